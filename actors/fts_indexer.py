"""The full-text index, behind its high-water mark: what the LogWriterActor indexes when idle.

Lines are stored at plain-insert speed; the writer (the same connection: SQLite has one writer)
indexes the id range above `fts_progress.indexed_up_to` one chunk per step, while nothing else
waits, so a burst is never slowed to FTS5 speed. Used on the writer's thread only.
"""

from __future__ import annotations

import logging
from typing import Final

import apsw

from pm_actors.actors import log_writes
from pm_actors.actors.store import indexed_up_to

logger = logging.getLogger(__name__)

INDEX_CHUNK_ROWS: Final = 5_000
"""Lines indexed per step: ~25 ms at FTS5 speed, the longest a new batch waits for the indexer."""


class FullTextIndexer:
    def __init__(self) -> None:
        self.indexed_up_to = 0
        """Every line up to this id is in the index (and only those: a delete must know)."""
        self._failed = False

    def open(self, connection: apsw.Connection) -> None:
        """Resume where the index ends: lines a previous daemon did not index are indexed now."""
        self.indexed_up_to = indexed_up_to(connection)

    def behind(self, head: int) -> bool:
        """Whether lines up to `head` (the newest committed) are left to index."""
        return self.indexed_up_to < head and not self._failed

    def step(self, connection: apsw.Connection, head: int) -> None:
        """Index the next id range and move the high-water mark, in one transaction."""
        if not self.behind(head):
            return
        upper = min(self.indexed_up_to + INDEX_CHUNK_ROWS, head)
        try:
            with connection:
                log_writes.index_lines(connection, self.indexed_up_to, upper)
                connection.execute("UPDATE fts_progress SET indexed_up_to = ?", (upper,))
        except apsw.Error:
            # Searches go on reporting these lines as unindexed; the next daemon start retries.
            logger.exception("indexing lines %d..%d failed; indexing stops", self.indexed_up_to + 1, upper)
            self._failed = True
            return
        self.indexed_up_to = upper
