"""The full-text index, behind its high-water mark: what the LogWriterActor indexes when idle.

Lines are stored at plain-insert speed; the writer (the same connection: SQLite has one writer)
indexes the id range above `fts_progress.indexed_up_to` one chunk per step, once lines stop
coming for a moment, while nothing else waits, so a flood is never slowed to FTS5 speed. Used
on the writer's thread only.
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
INDEX_QUIET_S: Final = 0.02
"""Indexing waits until no lines came for this long, so that a flood is stored at insert speed
(FTS5 costs several times an insert) and indexed when it pauses or ends: a trickle of output
has such gaps all the time, and 300,000 lines are indexed in under a second after a flood."""
MAX_INDEX_LAG_S: Final = 5.0
"""But a line waits at most this long to be indexed: under output that never pauses, chunks are
indexed between batches again. A search never waits for this: it asks for indexing itself."""


class FullTextIndexer:
    def __init__(self) -> None:
        self.indexed_up_to = 0
        """Every line up to this id is in the index (and only those: a delete must know)."""
        self._failed = False
        self._lines_came_at = 0.0
        self._unindexed_since: float | None = None

    def lines_came(self, now: float) -> None:
        """Lines were received at `now` (time.monotonic()): indexing waits for a pause."""
        self._lines_came_at = now
        if self._unindexed_since is None:
            self._unindexed_since = now

    def quiet_in(self, now: float) -> float:
        """Seconds until a step is due: lines stopped coming, or the oldest waited long enough."""
        quiet = self._lines_came_at + INDEX_QUIET_S - now
        return min(quiet, (self._unindexed_since or now) + MAX_INDEX_LAG_S - now)

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
        if upper == head:
            self._unindexed_since = None
