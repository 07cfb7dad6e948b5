"""Keeping the database file lean: free pages given back after deletions, statistics refreshed.

The LogWriterActor owns one `FileUpkeep` and runs its steps in idle time, on its own thread
and connection: after lines are deleted (retention, clear_logs, delete_process) the file gives
its free pages back a few at a time, and SQLite's query planner statistics are refreshed now
and then on this long-lived connection.
"""

from __future__ import annotations

import time
from typing import Final

import apsw

OPTIMIZE_INTERVAL_S: Final = 3600.0
"""SQLite advises `PRAGMA optimize` every few hours on a long-lived connection (and at close):
it refreshes the statistics its query planner chooses indexes by, cheaply when little changed."""
VACUUM_STEP_PAGES: Final = 1024
"""Free pages given back to the file system per step (4 MiB at the default page size), a few
milliseconds, so a shrinking file never holds up new lines for long."""
VACUUM_MIN_FREE_PAGES: Final = 256
"""Below this much free space (1 MiB) the file is left as it is: new lines will reuse it."""


class FileUpkeep:
    def __init__(self) -> None:
        self.vacuum_due = False
        """Whether free pages may be waiting to be given back (lines were deleted)."""
        self._optimized_at = time.monotonic()

    def optimize_when_due(self, connection: apsw.Connection) -> None:
        if time.monotonic() - self._optimized_at >= OPTIMIZE_INTERVAL_S:
            connection.execute("PRAGMA optimize").fetchall()
            self._optimized_at = time.monotonic()

    def vacuum_step(self, connection: apsw.Connection) -> None:
        """Give some free pages back; once few are left, checkpoint so the file shrinks now."""
        if int(connection.execute("PRAGMA freelist_count").get) >= VACUUM_MIN_FREE_PAGES:
            connection.execute(f"PRAGMA incremental_vacuum({VACUUM_STEP_PAGES})").fetchall()
            return
        self.vacuum_due = False
        connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
