"""`pm-actors mcp`: serve MCP on stdin/stdout, forwarding every tool call to a backend.

stdout is the JSON-RPC wire: nothing here prints, logging goes to stderr and is configured
first. The backend is the daemon (`PM_DAEMON_MODE=enabled`, started if none answers) or the
actor system in this very process (`disabled`). Their modules are imported only when chosen,
so this one imports without them, and the in-process mode never loads the IPC client.

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
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from mcp.server.stdio import stdio_server

from pm_actors.api import RequestUnion
from pm_actors.backend import Backend
from pm_actors.config import Config
from pm_actors.errors import DaemonUnavailable, PmError
from pm_actors.logging_setup import configure_logging

from .server import build_server

logger = logging.getLogger(__name__)

BackendOpener = Callable[[], Awaitable[Backend]]


def run_shim(config: Config) -> None:
    """Serve MCP over stdio until the client closes it; the processes outlive it in daemon mode.

    Logging is configured (to stderr) before anything else, so that nothing can reach stdout;
    doing it again after the CLI did is harmless.
    """
    configure_logging(config)
    anyio.run(serve_stdio, config, os.getcwd())


async def serve_stdio(config: Config, working_directory: str) -> None:
    """Run one MCP session on stdin/stdout.

    The backend is opened inside `stdio_server()`, which points fd 1 at stderr and fd 0 at
    /dev/null while it runs: a daemon spawned while connecting can then never inherit the
    client's pipes, and a stray print cannot corrupt the wire.
    """
    async with stdio_server() as (read_stream, write_stream):
        backend = ConnectingBackend(backend_opener(config))
        try:
            await backend.try_connect()
            server = build_server(backend, working_directory)
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


def backend_opener(config: Config) -> BackendOpener:
    """How to reach the backend that `config.daemon_mode` chooses."""
    if config.daemon_mode == "enabled":
        from pm_actors.ipc.launcher import connect_or_start  # type: ignore[import-not-found, unused-ignore]

        async def connect_to_daemon() -> Backend:
            backend: Backend = await connect_or_start(config)
            return backend

        return connect_to_daemon

    from pm_actors.local import InProcessBackend  # type: ignore[import-not-found, unused-ignore]

    async def start_in_process() -> Backend:
        # Called on the event loop's (main) thread on purpose: starting the actor system is
        # short, and it may need the main thread (signal handlers).
        backend: Backend = InProcessBackend.start(config)
        return backend

    return start_in_process


class ConnectingBackend:
    """A `Backend` that opens the real one, and opens it again on the next call after a failure.

    Attempts never overlap: calls that arrive while one is under way wait for it, so a burst of
    calls cannot start a burst of daemons. A connection that breaks later (the daemon was
    restarted) is dropped, so the next call connects again, starting a daemon if need be; an
    idempotent request is retried at once on the new connection, since repeating it is harmless.
    """

    def __init__(self, open_backend: BackendOpener) -> None:
        self._open_backend = open_backend
        self._backend: Backend | None = None
        self._lock = anyio.Lock()

    async def try_connect(self) -> None:
        """Connect now if possible; a failure is only logged, and the next call retries."""
        try:
            await self._connected()
        except PmError as error:
            logger.warning(
                "backend unavailable at start (%s); serving anyway, each tool call will report "
                "this and try again",
                error.message,
            )

    async def call(self, request: RequestUnion) -> Any:
        backend = await self._connected()
        try:
            return await backend.call(request)
        except DaemonUnavailable:
            await self._discard(backend)
            if not type(request).annotations.idempotent:
                raise
        logger.info("the daemon connection broke; retrying %s on a new one", type(request).__name__)
        return await (await self._connected()).call(request)

    async def _discard(self, broken: Backend) -> None:
        async with self._lock:
            if self._backend is broken:
                self._backend = None
        with contextlib.suppress(PmError):
            await broken.close()

    async def close(self) -> None:
        if self._backend is not None:
            backend, self._backend = self._backend, None
            await backend.close()

    async def _connected(self) -> Backend:
        async with self._lock:
            if self._backend is None:
                self._backend = await self._open_backend()
            return self._backend
