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
import sys

from pm_actors.actors.system import ActorSystem
from pm_actors.app.console import EXIT_OK, EXIT_USAGE
from pm_actors.app.instance_lock import single_instance_lock
from pm_actors.app.user_config import settings_environment
from pm_actors.config import Config, ConfigError, load_config
from pm_actors.ipc.auth import load_or_create_token
from pm_actors.ipc.restart_settings import take_restart_settings
from pm_actors.ipc.server import IpcServer
from pm_actors.logging_setup import configure_logging

logger = logging.getLogger(__name__)


def main() -> int:
    """`pm-actors daemon` (what a keeper starts): the daemon alone, without the command line's
    client stack, which would cost it memory for nothing."""
    try:
        config = load_config(settings_environment())
    except ConfigError as error:
        print(f"pm-actors: {error}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(config)
    run_daemon(config)
    return EXIT_OK


def run_daemon(config: Config) -> None:
    with single_instance_lock(config.lock_path):
        # Holding the lock, we may replace a socket a dead daemon left: IpcServer.start() does.
        token = load_or_create_token(config)
        system = ActorSystem(config)
        restarting = False
        try:
            restarting = asyncio.run(_serve_until_signalled(config, token, system))
        finally:
            system.shutdown(keep_processes=restarting)
    logger.info("daemon stopped" if not restarting else "daemon ended; its keeper starts the next one")


async def _serve_until_signalled(config: Config, token: str, system: ActorSystem) -> bool:
    """Serve until SIGTERM or SIGINT (False: stop, and every process with us) or, under a
    keeper, SIGHUP (True: end, leaving the processes to the next daemon, which the keeper
    starts at once with the settings `pm-actors daemon restart` left in `restart_settings`)."""
    stop_requested = asyncio.Event()
    restart_requested = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stop_requested.set)
    loop.add_signal_handler(signal.SIGHUP, restart_requested.set)
    server = IpcServer(config, token, system.submit, events=system.events, kept=system.kept)
    await server.start()
    logger.info("daemon pid %d serving on %s", os.getpid(), config.daemon_address)
    try:
        while True:
            ended = await _first(stop_requested, restart_requested)
            if ended is stop_requested:
                logger.info("daemon shutting down on request")
                return False
            restart_requested.clear()
            if system.kept:
                logger.info("daemon restarting on request; its processes run on")
                system.hand_over_settings(take_restart_settings(config))
                return True
            logger.warning(
                "SIGHUP ignored: no keeper runs this daemon, so a restart would stop its processes"
            )
    finally:
        await server.close()


async def _first(*events: asyncio.Event) -> asyncio.Event:
    waits = {asyncio.ensure_future(event.wait()): event for event in events}
    done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    return waits[next(iter(done))]
