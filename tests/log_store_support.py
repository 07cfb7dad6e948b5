"""Helpers for tests of the log store: a writer with a retention policy, and the check that the
full-text index agrees with the rows it was built from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import apsw
import pykka

from pm_actors.actors.log_writer import LogWriterActor
from pm_actors.actors.retention import RetentionPolicy
from pm_actors.actors.store import BUSY_TIMEOUT_MS

KEEP_EVERYTHING = RetentionPolicy(max_age_s=100 * 365 * 86_400.0, max_chars_per_process=1 << 40)
"""No line is ever old or large enough to be trimmed."""


def start_writer(database: Path, retention: RetentionPolicy = KEEP_EVERYTHING) -> pykka.ActorRef[Any]:
    return LogWriterActor.start(database, retention)


def check_index_matches_rows(database: Path) -> None:
    """Raise unless the FTS5 index is sound and holds exactly the stored rows, each with the
    text it was indexed with. Every line must be indexed first (a Flush without a budget)."""
    connection = apsw.Connection(str(database))
    connection.set_busy_timeout(BUSY_TIMEOUT_MS)
    try:
        connection.execute("INSERT INTO logs_fts(logs_fts) VALUES('integrity-check')")
        # rank 1: compared with the content table, row by row (the plain check only looks inside).
        connection.execute("INSERT INTO logs_fts(logs_fts, rank) VALUES('integrity-check', 1)")
        assert connection.execute("PRAGMA integrity_check").get == "ok"
    finally:
        connection.close()
