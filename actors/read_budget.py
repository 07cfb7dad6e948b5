"""A time budget for every read of the database, enforced inside SQLite.

A search can be slow in ways no size limit foresees (a substring compared against long lines,
a query matching millions of rows), and Python cannot stop a running SQLite statement from
the outside. SQLite can: a progress handler, called every `PROGRESS_STEPS` virtual machine
steps, aborts the statement when it returns true. Each read installs one that checks the
read's deadline and the daemon's stop flag, so a slow read ends at its budget and a shutdown
interrupts every read at once. A read interrupted at its budget may answer with what it had
found and where to continue (`log_queries`: a search's `stopped: time_budget`, a page's
`has_more`); otherwise it is answered `limit_reached`, saying so and how to narrow it.

Shared by every thread that reads; each read uses its own connection.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator

import apsw

from pm_actors.errors import BudgetExceeded, DaemonUnavailable

logger = logging.getLogger(__name__)

PROGRESS_STEPS = 1000
"""SQLite steps between two looks at the clock: ~10-50 µs of an ordinary query (the look costs
~0.2 µs, so well under 1 %), and a few rows of a scan however long its lines, so a read stops
within milliseconds of its deadline."""


class ReadBudget:
    def __init__(self, budget_s: float) -> None:
        self.budget_s = budget_s
        self._stopping = threading.Event()

    def stop(self) -> None:
        """Interrupt every read running now or started later: the daemon is shutting down."""
        self._stopping.set()

    @contextlib.contextmanager
    def limit(self, connection: apsw.Connection, what: str) -> Iterator[None]:
        """Run the reads inside the block on `connection` within the budget. Raises
        `BudgetExceeded` past it, `DaemonUnavailable` when interrupted by a shutdown (even if
        the block answered with what it had read before the interruption)."""
        stopping = self._stopping
        deadline = time.monotonic() + self.budget_s
        interrupted_by_stop = False

        def abort() -> bool:
            nonlocal interrupted_by_stop
            interrupted_by_stop = stopping.is_set()
            return interrupted_by_stop or time.monotonic() > deadline

        connection.set_progress_handler(abort, PROGRESS_STEPS)
        try:
            yield
        except apsw.InterruptError:
            if stopping.is_set():
                raise self._stopped(what) from None
            raise BudgetExceeded(
                f"{what} ran past its time budget of {self.budget_s:g} s and was stopped "
                "(PM_QUERY_TIMEOUT_MS); narrow it: name one process, a time range (since, until), "
                "words or phrase mode (indexed) rather than substring or regex, or a more specific query"
            ) from None
        finally:
            connection.set_progress_handler(None)
        if interrupted_by_stop:
            raise self._stopped(what)

    @staticmethod
    def _stopped(what: str) -> DaemonUnavailable:
        logger.info("%s was interrupted: the daemon is stopping", what)
        return DaemonUnavailable(f"the daemon is stopping; {what} was interrupted")
