"""get_daemon_status: the daemon's own facts, from its configuration and its record board."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from pm_actors import __version__
from pm_actors.config import Config
from pm_actors.results import DaemonStatus, ProcessRecord, iso_utc
from pm_actors.states import ProcessState


class Clock:
    """When the daemon started: a wall time to show, a monotonic one to measure uptime by."""

    def __init__(self) -> None:
        self.started_at = time.time()
        self._started = time.monotonic()

    def uptime_s(self) -> float:
        return time.monotonic() - self._started


def daemon_status(config: Config, clock: Clock, records: list[ProcessRecord]) -> DaemonStatus:
    return DaemonStatus(
        pid=os.getpid(),
        version=__version__,
        started_at=iso_utc(clock.started_at) or "",
        uptime_s=round(clock.uptime_s(), 1),
        address=config.daemon_address,
        database=str(config.database_path),
        database_bytes=_size_with_wal(config.database_path),
        log_file=str(config.daemon_log_path),
        managed_processes=len(records),
        running_processes=sum(1 for record in records if record.state is ProcessState.RUNNING),
    )


def _size_with_wal(database: Path) -> int:
    total = 0
    for path in (database, database.with_name(database.name + "-wal")):
        with contextlib.suppress(FileNotFoundError):
            total += path.stat().st_size
    return total
