"""`pm-actors daemon`: the long-lived owner of every managed process.

It runs in the foreground (a terminal or a service manager keeps it; the shim's auto-start
detaches it first). One daemon per database: an flock on a lock file beside the database,
holding the daemon's pid, refuses a second one by name. Whoever holds that lock may replace a
socket left behind by a daemon that died, and only they. SIGTERM or SIGINT stops every child
gracefully, commits their output, closes the database and removes the socket.

This module and everything it imports never import `mcp`: the daemon stays small.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from pm_actors.actors.system import ActorSystem
from pm_actors.config import Config
from pm_actors.ipc.auth import load_or_create_token
from pm_actors.ipc.server import IpcServer

logger = logging.getLogger(__name__)


class DaemonAlreadyRunning(Exception):
    def __init__(self, lock_path: Path, pid: str) -> None:
        super().__init__(
            f"another pm-actors daemon (pid {pid or 'unknown'}) already runs on this database; "
            f"its lock is {lock_path}"
        )


@contextlib.contextmanager
def single_instance_lock(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive flock on `lock_path` with our pid in it, for as long as we run."""
    lock_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    lock_file: IO[str] = os.fdopen(descriptor, "r+")
    try:
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DaemonAlreadyRunning(lock_path, lock_file.read().strip()) from None
        lock_file.seek(0)
        lock_file.truncate()
        lock_file.write(f"{os.getpid()}\n")
        lock_file.flush()
        yield
    finally:
        lock_file.close()


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
    server = IpcServer(config, token, system.submit)
    await server.start()
    logger.info("daemon pid %d serving on %s", os.getpid(), _address(config))
    try:
        await stop_requested.wait()
        logger.info("daemon shutting down on request")
    finally:
        await server.close()


def _address(config: Config) -> str:
    if config.daemon_transport == "tcp":
        return f"{config.daemon_tcp_bind}:{config.daemon_tcp_port}"
    return str(config.daemon_socket_path)
