"""One owner per database: an flock on a lock file beside it, holding the owner's pid.

The daemon holds it while it runs, and so does an in-process shim (`PM_DAEMON_MODE=disabled`):
two owners would both hand out log and run ids from memory and overwrite each other's rows.
Whoever holds the lock may also replace a socket that a dead daemon left behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from pm_actors.errors import DaemonUnavailable


class DatabaseInUse(DaemonUnavailable):
    def __init__(self, lock_path: Path, pid: str) -> None:
        super().__init__(
            f"another pm-actors (pid {pid or 'unknown'}) already runs on this database; its lock is "
            f"{lock_path}. Use that one, or set PM_DATABASE_PATH to another file"
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
            raise DatabaseInUse(lock_path, lock_file.read().strip()) from None
        lock_file.seek(0)
        lock_file.truncate()
        lock_file.write(f"{os.getpid()}\n")
        lock_file.flush()
        yield
    finally:
        lock_file.close()
