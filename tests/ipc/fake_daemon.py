"""A stand-in daemon for the launcher tests, run as a script by the launcher.

It does what the launcher relies on the real daemon to do: take the single-instance lock
(exiting if another daemon holds it), then the token, then listen with the real `IpcServer`.
Its `submit` answers `list_processes` only. It stops on SIGTERM. With FAKE_DAEMON_FAIL set,
it complains on stderr and exits 3 before listening.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import fcntl
import os
import signal
import sys
from typing import Any, TextIO

from pm_actors.api import ListProcesses, RequestUnion
from pm_actors.config import Config, load_config
from pm_actors.errors import InvalidArgument
from pm_actors.ipc.auth import load_or_create_token
from pm_actors.ipc.server import IpcServer
from pm_actors.results import ProcessList

EXIT_REFUSED = 3
EXIT_LOCKED = 1


def submit(request: RequestUnion) -> concurrent.futures.Future[Any]:
    future: concurrent.futures.Future[Any] = concurrent.futures.Future()
    if isinstance(request, ListProcesses):
        future.set_result(ProcessList(processes=[]))
    else:
        future.set_exception(InvalidArgument("the fake daemon answers list_processes only"))
    return future


def take_lock(config: Config) -> TextIO:
    config.lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = open(config.lock_path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the process's life
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        sys.stderr.write("fake daemon: another daemon holds the lock\n")
        sys.exit(EXIT_LOCKED)
    lock.truncate(0)
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    return lock


async def serve(config: Config) -> None:
    server = IpcServer(config, load_or_create_token(config), submit)
    await server.start()
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    await stopping.wait()
    await server.close()


def main() -> None:
    config = load_config()
    if os.environ.get("FAKE_DAEMON_FAIL"):
        sys.stderr.write("fake daemon: refusing to start on purpose\n")
        sys.exit(EXIT_REFUSED)
    lock = take_lock(config)
    try:
        asyncio.run(serve(config))
    finally:
        lock.close()


if __name__ == "__main__":
    main()
