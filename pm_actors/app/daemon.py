"""`pm-actors daemon`: the long-lived owner of every managed process.

It runs in the foreground (a terminal or a service manager keeps it; the shim's auto-start
detaches it first). One daemon per database (`instance_lock`): a second one is refused, naming
the first one's pid; holding the lock, it may replace a socket left by a daemon that died.
SIGTERM or SIGINT stops every child gracefully, commits their output, closes the database and
removes the socket.

This module and everything it imports never import `mcp`: the daemon stays small.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from pm_actors.actors.system import ActorSystem
from pm_actors.app.instance_lock import single_instance_lock
from pm_actors.config import Config
from pm_actors.ipc.auth import load_or_create_token
from pm_actors.ipc.server import IpcServer

logger = logging.getLogger(__name__)


def run_daemon(config: Config) -> None:
    with single_instance_lock(config.lock_path):
        # Holding the lock, we may replace a socket a dead daemon left: IpcServer.start() does.
        token = load_or_create_token(config)
        system = ActorSystem(config)
        try:
            asyncio.run(_serve_until_signalled(config, token, system))
        finally:
            system.shutdown()
    logger.info("daemon stopped")


async def _serve_until_signalled(config: Config, token: str, system: ActorSystem) -> None:
    stop_requested = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stop_requested.set)
    server = IpcServer(config, token, system.submit, events=system.events)
    await server.start()
    logger.info("daemon pid %d serving on %s", os.getpid(), config.daemon_address)
    try:
        await stop_requested.wait()
        logger.info("daemon shutting down on request")
    finally:
        await server.close()
