"""Where log reads run: a few threads per lane, each with its own read-only connection.

A read used to run on the LogReaderActor's one thread and one connection, so one slow search
held up every other read behind it. Reads now run on lanes: searches on one, pages and tails
(index range scans, always quick) on another, each with a few workers. A slow search occupies
one search worker until its time budget (`read_budget`) stops it; the other workers and the
other lane carry on. WAL lets every connection read beside the writer.

`submit` may be called from any thread; the work runs on a worker of the lane, which answers
the reply itself (the read's result, or its error through the actor's catch-all rule).
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable
from pathlib import Path

import apsw

from pm_actors.actors.base import answer, fail
from pm_actors.actors.messages import Reply
from pm_actors.actors.read_budget import ReadBudget
from pm_actors.actors.store import open_read_connection
from pm_actors.errors import PmError

SEARCH_WORKERS = 2
"""Searches at once: two slow ones (each cut at its budget) leave the page lane untouched, and
two cores gain nothing from more concurrent scans."""
PAGE_WORKERS = 2
"""get_logs and tail_logs at once: each is a short index range scan."""

Read = Callable[[apsw.Connection], object]
FailureOf = Callable[[str, Exception], PmError]


class ReadLane:
    def __init__(
        self, database_path: Path, workers: int, name: str, budget: ReadBudget, failure_of: FailureOf
    ):
        self._database_path = database_path
        self._budget = budget
        self._failure_of = failure_of
        self._local = threading.local()
        self._connections: list[apsw.Connection] = []
        self._lock = threading.Lock()
        self._pool = concurrent.futures.ThreadPoolExecutor(
            workers, thread_name_prefix=name, initializer=self._open_connection
        )

    def submit(self, reply: Reply, what: str, read: Read) -> None:
        """Run `read` on a worker's connection within the budget; its result answers `reply`."""
        self._pool.submit(self._run, reply, what, read)

    def close(self) -> None:
        """Wait for the reads under way (stop the budget first to cut them short), then close
        every connection: each worker's thread has ended, so none is in use."""
        self._pool.shutdown(wait=True)
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()

    def _open_connection(self) -> None:
        """Runs once on each worker thread as it starts."""
        connection = open_read_connection(self._database_path)
        self._local.connection = connection
        with self._lock:
            self._connections.append(connection)

    def _run(self, reply: Reply, what: str, read: Read) -> None:
        """Runs on a worker: the top level of one read, so every outcome answers the reply."""
        try:
            with self._budget.limit(self._local.connection, what):
                result = read(self._local.connection)
        except Exception as error:
            fail(reply, self._failure_of(what, error))
            return
        answer(reply, result)
