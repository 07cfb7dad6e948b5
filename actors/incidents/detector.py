"""The writer's error detection: stored lines classified behind a high-water mark, crashes linked.

The LogWriterActor owns one `ErrorDetector` and calls it on its own thread, with its one
connection. Like the full-text indexer, `step` reads the rows above the mark
(`incident_progress`) while the writer is idle, one chunk per turn, feeds them to the
`IncidentTracker`, counts what it finds into the incidents tables and moves the mark, all in one
transaction: a restart resumes at the mark, and no error is counted twice. Capture never waits
for it.

The lines of a run that ends are classified at its end instead (`run_ended`, inside the
transaction that records the end), so that its crash is linked at once to the error that
explains it; the chunks leave out the lines of ended runs, which were looked at then.

A trace still being printed is held (the tracker's folders) until a line that cannot belong to
it, the end of its run, or `SETTLE_S` without a line from its run once detection has caught up.
A daemon killed meanwhile loses only what was held; a daemon that stops ends every run first.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Final, cast

import apsw
import msgspec

from pm_actors.actors.incidents import store
from pm_actors.actors.incidents.explain import RunEnd, explain_crash
from pm_actors.actors.incidents.queries import ErrorQueries
from pm_actors.actors.incidents.tracker import Detected, IncidentTracker, Row
from pm_actors.actors.messages import STDIN, RecordRunEnd
from pm_actors.api import MarkErrorResolved
from pm_actors.definition import ProcessDefinition
from pm_actors.error_results import ErrorRecord
from pm_actors.states import ProcessState

logger = logging.getLogger(__name__)

CHUNK_ROWS: Final = 5_000
"""Lines classified per step: a few milliseconds (one regular expression search per ordinary
line), the longest a new batch waits behind detection."""
SETTLE_S: Final = 1.0
"""How long a run must stay quiet before the trace it is printing counts as complete: a stack
trace is printed in one go, and an error one second late is still early."""

_COLUMNS: Final = "l.id, l.process_id, l.run_id, l.stream, l.ts, l.line"
_LIVE_ROWS: Final = (
    f"SELECT {_COLUMNS} FROM logs l LEFT JOIN runs r ON r.id = l.run_id"
    f" WHERE l.id > ? AND l.id <= ? AND l.stream != {STDIN} AND r.ended_at IS NULL ORDER BY l.id"
)
"""Rows above the mark of runs still going; what was sent to a process is not its output."""
_RUN_ROWS: Final = (
    f"SELECT {_COLUMNS} FROM logs l WHERE l.process_id = ? AND l.id > ? AND l.run_id = ?"
    f" AND l.stream != {STDIN} ORDER BY l.id"
)

ChangeListener = Callable[[int], None]
"""Told the id of a process whose errors changed, once that is committed."""


class ErrorDetector:
    def __init__(self, on_change: ChangeListener) -> None:
        self._tracker = IncidentTracker()
        self._mark = 0
        self._on_change = on_change
        self._changed: set[int] = set()
        self._links: dict[int, tuple[str, int]] = {}
        """By run id: the phrase and error of a crash linked in a transaction not yet committed."""
        self._failed = False

    def open(self, connection: apsw.Connection) -> None:
        """Resume at the stored mark, knowing where each stored process runs."""
        self._mark = store.classified_up_to(connection)
        for process_id, blob in connection.execute("SELECT id, definition FROM processes"):
            cwd = msgspec.msgpack.decode(blob, type=ProcessDefinition).cwd
            self._tracker.know_process(process_id, cwd)

    def know_process(self, process_id: int, working_directory: str) -> None:
        self._tracker.know_process(process_id, working_directory)

    def behind(self, head: int) -> bool:
        """Whether lines up to `head` (the newest committed) are left to classify."""
        return self._mark < head and not self._failed

    def holding(self) -> bool:
        """Whether a trace is held until its run goes quiet."""
        return self._tracker.pending() and not self._failed

    def step(self, connection: apsw.Connection, head: int) -> None:
        """Classify the next chunk of lines up to `head`, every line committed; once caught
        up, settle the traces of quiet runs."""
        if self._failed:
            return
        upper = min(self._mark + CHUNK_ROWS, head)
        try:
            with connection:
                found = self._tracker.feed(_rows(connection, _LIVE_ROWS, self._mark, upper))
                if upper == head:
                    found += self._tracker.settle(time.time() - SETTLE_S)
                self._record(connection, found)
                store.set_classified_up_to(connection, upper)
        except apsw.Error:
            # Errors already counted stay; lines from here on go unclassified until a restart.
            logger.exception("classifying lines %d..%d failed; error detection stops", self._mark + 1, upper)
            self._failed = True
            return
        self._mark = upper
        self.publish()

    def finish(self, connection: apsw.Connection, head: int) -> None:
        """The writer stops: classify every line and complete every held trace, so that the
        next daemon, resuming at the mark, has nothing to miss or to count again."""
        while self.behind(head):
            self.step(connection, head)
        if self._failed:
            return
        with connection:
            self._record(connection, self._tracker.settle(quiet_since=math.inf))
        self.publish()

    def run_ended(self, connection: apsw.Connection, end: RecordRunEnd) -> None:
        """Inside the transaction that records the end: classify the rest of the run's lines,
        finish its traces, and link a crash to what explains it. (If that transaction fails,
        the traces it finished are not counted: the failure is logged as a lost write.)"""
        try:
            with connection:  # a savepoint: a failure here must not cost the run's end itself
                self._classify_end(connection, end)
        except apsw.Error:
            logger.exception("classifying the end of run %d failed; its errors are not counted", end.run_id)

    def _classify_end(self, connection: apsw.Connection, end: RecordRunEnd) -> None:
        row = connection.execute("SELECT process_id FROM runs WHERE id = ?", (end.run_id,)).fetchone()
        process_id = None if row is None else int(row[0])
        if process_id is not None:
            found = self._tracker.feed(_rows(connection, _RUN_ROWS, process_id, self._mark, end.run_id))
            self._record(connection, found)
        self._record(connection, self._tracker.end_run(end.run_id))
        if process_id is None or end.end_state is not ProcessState.CRASHED:
            return
        shown = store.shown_error(connection, end.run_id)
        how = RunEnd(end.exit_code, end.exit_signal, end.memory_mb, end.memory_limit_mb, end.end_reason)
        explanation = explain_crash(how, shown[1] if shown else None)
        incident_id = store.record_crash(
            connection, end.run_id, process_id, explanation, shown[0] if shown else None, end.ended_at
        )
        self._links[end.run_id] = (explanation.phrase, incident_id)
        self._changed.add(process_id)

    def run_end_written(self, end: RecordRunEnd, committed: bool) -> None:
        """After the transaction of `end`: tell its process what explains its crash."""
        link = self._links.pop(end.run_id, None)
        if committed and link is not None and end.on_explained is not None:
            end.on_explained(*link)
        self.publish()

    def resolve(self, connection: apsw.Connection, request: MarkErrorResolved) -> ErrorRecord:
        with connection:
            process_id = store.mark_resolved(connection, request.error_id, request.note, time.time())
            resolved = ErrorQueries(connection).one(request.error_id)
        self._changed.add(process_id)
        self.publish()
        return resolved

    def publish(self) -> None:
        """Tell the listener of every process whose errors changed (after a commit)."""
        changed, self._changed = self._changed, set()
        for process_id in sorted(changed):
            self._on_change(process_id)

    def _record(self, connection: apsw.Connection, found: list[Detected]) -> None:
        for detected in found:
            store.record(connection, detected)
            self._changed.add(detected.process_id)


def _rows(connection: apsw.Connection, sql: str, *args: int) -> list[Row]:
    return cast(list[Row], connection.execute(sql, args).fetchall())
