"""`pm-actors mcp`: serve MCP on stdin/stdout, forwarding every tool call to a backend.

stdout is the JSON-RPC wire: nothing here prints, logging goes to stderr and is configured
first. The caller gives how to open the backend (`pm_actors.app.backends`): the daemon
(`PM_DAEMON_MODE=enabled`, started if none answers) or the actor system in this very process
(`disabled`); a `ClientSession` keeps it connected.

When the backend cannot be reached at start, the server still runs: every tool call then
answers `daemon_unavailable` (or the start error) with the reason, and tries again to connect.
A shim that exited instead would show the person only "server disconnected", with the reason
buried in a log file, and the model could neither see it nor retry once it is fixed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys

import anyio
from mcp.server.stdio import stdio_server

from pm_actors.config import Config
from pm_actors.ipc.session import BackendOpener, ClientSession
from pm_actors.logging_setup import configure_logging

from .server import build_server

logger = logging.getLogger(__name__)


def run_shim(config: Config, open_backend: BackendOpener) -> None:
    """Serve MCP over stdio until the client closes it; the processes outlive it in daemon mode.

    Logging is configured (to stderr) before anything else, so that nothing can reach stdout;
    doing it again after the CLI did is harmless.
    """
    configure_logging(config)
    anyio.run(serve_stdio, open_backend, os.getcwd())


async def serve_stdio(open_backend: BackendOpener, working_directory: str) -> None:
    """Run one MCP session on stdin/stdout.

    The backend is opened inside `stdio_server()`, which points fd 1 at stderr and fd 0 at
    /dev/null while it runs: a daemon spawned while connecting can then never inherit the
    client's pipes, and a stray print cannot corrupt the wire.
    """
    async with stdio_server() as (read_stream, write_stream):
        backend = ClientSession(open_backend, working_directory)
        try:
            await backend.try_connect()
            server = build_server(backend)
            await server.run(read_stream, write_stream, server.create_initialization_options())
        finally:
            with anyio.CancelScope(shield=True):
                await backend.close()
            flush_stray_output()


def flush_stray_output() -> None:
    """Flush Python's stdout buffer while fd 1 still points at stderr.

    `stdio_server()` restores fd 1 to the wire on exit without flushing `sys.stdout`, so text
    printed while serving (by a library, say) and still buffered would reach the client at exit.
    """
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
