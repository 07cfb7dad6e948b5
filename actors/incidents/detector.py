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

With error tracking off (`PM_ERROR_TRACKING=false`) the mark only follows the stored lines:
nothing is classified, and lines stored meanwhile are never looked at.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, cast

import apsw
import msgspec

from pm_actors.actors.incidents import store
from pm_actors.actors.incidents.explain import RunEnd, explain_crash
from pm_actors.actors.incidents.queries import ErrorQueries
from pm_actors.actors.incidents.tracker import Detected, IncidentTracker, Row
from pm_actors.actors.messages import STDIN, RecordRunEnd
from pm_actors.actors.store import last_line_of_run
from pm_actors.definition import ProcessDefinition
from pm_actors.error_requests import MarkErrorResolved
from pm_actors.error_results import ErrorRecord
from pm_actors.states import ProcessState

logger = logging.getLogger(__name__)

CHUNK_ROWS: Final = 2_000
"""Lines read per step, at most."""
STEP_BUDGET_S: Final = 0.002
"""How long one step classifies (about 1,000 lines): a read or a batch that arrives meanwhile
waits behind it, so it is kept to the cost of a quick search."""
SLICE_ROWS: Final = 100
"""Lines classified between two looks at the clock."""
FINISH_BUDGET_S: Final = 2.0
"""How long a stopping writer goes on classifying: a stop (or a restart under the keeper)
must not wait for a flood's backlog (~300,000 lines a second)."""
SETTLE_S: Final = 1.0
"""How long a run must stay quiet before the trace it is printing counts as complete: a stack
trace is printed in one go, and an error one second late is still early."""

_COLUMNS: Final = "l.id, l.process_id, l.run_id, l.stream, l.ts, l.line"
_UNCHECKED_ROWS: Final = (
    f"SELECT {_COLUMNS} FROM logs l LEFT JOIN runs r ON r.id = l.run_id"
    f" WHERE l.id > ? AND l.id <= ? AND l.stream != {STDIN} AND r.errors_checked IS NULL ORDER BY l.id"
)
"""Rows above the mark of runs not concluded (those concluded at their end were classified
then); what was sent to a process is not its output."""
_RUN_ROWS: Final = (
    f"SELECT {_COLUMNS} FROM logs l WHERE l.process_id = ? AND l.id > ? AND l.run_id = ?"
    f" AND l.stream != {STDIN} ORDER BY l.id LIMIT ?"
)
_UNCHECKED_ENDS: Final = (
    "SELECT id, process_id, ended_at, exit_code, exit_signal, end_reason, end_state FROM runs"
    " WHERE ended_at IS NOT NULL AND errors_checked IS NULL"
)

ChangeListener = Callable[[int], None]
"""Told the id of a process whose errors changed, once that is committed."""


@dataclass(frozen=True)
class _Ending:
    """A run that ended while lines of it were still to classify: concluded once the mark passes
    its last line."""

    end: RecordRunEnd
    process_id: int
    last_line_id: int


class ErrorDetector:
    def __init__(self, on_change: ChangeListener, enabled: bool = True) -> None:
        self._enabled = enabled
        self._tracker = IncidentTracker()
        self._mark = 0
        self._on_change = on_change
        self._changed: set[int] = set()
        self._endings: dict[int, _Ending] = {}
        self._explained: dict[int, tuple[str, int]] = {}
        """By run id: the phrase and error of a crash linked in a transaction not yet committed."""
        self._callbacks: dict[int, Callable[[str, int], None] | None] = {}
        self._failed = False

    def open(self, connection: apsw.Connection) -> None:
        """Resume at the stored mark, knowing where each stored process runs, and which runs
        ended before all their lines were classified (a daemon killed meanwhile)."""
        self._mark = store.classified_up_to(connection)
        for process_id, blob in connection.execute("SELECT id, definition FROM processes"):
            cwd = msgspec.msgpack.decode(blob, type=ProcessDefinition).cwd
            self._tracker.know_process(process_id, cwd)
        for run_id, process_id, ended_at, code, signal, reason, state in connection.execute(_UNCHECKED_ENDS):
            end = RecordRunEnd(run_id, ended_at, code, signal, reason or "", ProcessState(state))
            self._endings[run_id] = _Ending(end, process_id, last_line_of_run(connection, process_id, run_id))

    def know_process(self, process_id: int, working_directory: str) -> None:
        self._tracker.know_process(process_id, working_directory)

    def behind(self, head: int) -> bool:
        """Whether lines up to `head` (the newest committed) are left to classify, or runs to
        conclude."""
        return (self._mark < head or bool(self._endings)) and not self._failed

    def holding(self) -> bool:
        """Whether a trace is held until its run goes quiet."""
        return self._tracker.pending() and not self._failed

    def step(self, connection: apsw.Connection, head: int) -> None:
        """Classify the next chunk of lines up to `head`, every line committed, and conclude the
        runs whose last line it reached; once caught up, settle the traces of quiet runs."""
        if self._failed:
            return
        upper = min(self._mark + CHUNK_ROWS, head) if self._enabled else head
        try:
            with connection:
                if self._enabled:
                    upper = self._feed_within_budget(connection, upper)
                # Caught up, every ending is concluded: none may wait for a line that is not there.
                for ending in [e for e in self._endings.values() if e.last_line_id <= upper or upper == head]:
                    self._conclude(connection, ending)
                if upper == head:
                    self._record(connection, self._tracker.settle(time.time() - SETTLE_S))
                store.set_classified_up_to(connection, upper)
        except apsw.Error:
            # Errors already counted stay; lines from here on go unclassified until a restart.
            logger.exception("classifying lines %d..%d failed; error detection stops", self._mark + 1, upper)
            self._failed = True
            return
        self._mark = upper
        self._tell_explained()

    def _feed_within_budget(self, connection: apsw.Connection, upper: int) -> int:
        """Classify the lines above the mark up to `upper` for at most `STEP_BUDGET_S`; returns
        the id classified up to."""
        rows = _rows(connection, _UNCHECKED_ROWS, self._mark, upper)
        deadline = time.monotonic() + STEP_BUDGET_S
        for start in range(0, len(rows), SLICE_ROWS):
            if start and time.monotonic() >= deadline:
                return rows[start - 1][0]
            self._record(connection, self._tracker.feed(rows[start : start + SLICE_ROWS]))
        return upper

    def finish(self, connection: apsw.Connection, head: int) -> None:
        """The writer stops: classify every line and complete every held trace, so that the
        next daemon, resuming at the mark, has nothing to miss or to count again; but never for
        longer than `FINISH_BUDGET_S` (a flood's backlog is left to the next daemon, which may
        then see the rest of a trace begun before the mark as an error of its own)."""
        deadline = time.monotonic() + FINISH_BUDGET_S
        while self.behind(head) and time.monotonic() < deadline:
            self.step(connection, head)
        if self._failed or self.behind(head):
            logger.info("error detection resumes at line %d when the daemon starts again", self._mark + 1)
            return
        with connection:
            self._record(connection, self._tracker.settle(quiet_since=math.inf))
        self.publish()

    def run_ended(self, connection: apsw.Connection, end: RecordRunEnd) -> None:
        """Inside the transaction that records the end: classify the rest of the run's lines and
        conclude it (a crash linked to what explains it), unless more than a chunk of them is
        left (a flood just before the end): then the chunks do, and conclude it after. (If the
        transaction fails, the traces concluded are not counted: it is logged as a lost write.)"""
        try:
            with connection:  # a savepoint: a failure here must not cost the run's end itself
                self._end(connection, end)
        except apsw.Error:
            logger.exception("classifying the end of run %d failed; its errors are not counted", end.run_id)

    def _end(self, connection: apsw.Connection, end: RecordRunEnd) -> None:
        row = connection.execute("SELECT process_id FROM runs WHERE id = ?", (end.run_id,)).fetchone()
        if row is None or not self._enabled:
            store.set_checked(connection, end.run_id)
            self._record(connection, self._tracker.end_run(end.run_id))
            return
        ending = _Ending(end, int(row[0]), last_line_of_run(connection, int(row[0]), end.run_id))
        rows = _rows(connection, _RUN_ROWS, ending.process_id, self._mark, end.run_id, CHUNK_ROWS + 1)
        if len(rows) > CHUNK_ROWS:
            self._endings[end.run_id] = ending
            return
        self._record(connection, self._tracker.feed(rows))
        self._conclude(connection, ending)

    def _conclude(self, connection: apsw.Connection, ending: _Ending) -> None:
        """Every line of the run is classified: finish its traces, link a crash to its error."""
        end = ending.end
        self._endings.pop(end.run_id, None)
        self._record(connection, self._tracker.end_run(end.run_id))
        store.set_checked(connection, end.run_id)
        if end.end_state is not ProcessState.CRASHED:
            return
        shown = store.shown_error(connection, end.run_id)
        how = RunEnd(end.exit_code, end.exit_signal, end.memory_mb, end.memory_limit_mb, end.end_reason)
        explanation = explain_crash(how, shown[1] if shown else None)
        incident_id = store.record_crash(
            connection, end.run_id, ending.process_id, explanation, shown[0] if shown else None, end.ended_at
        )
        self._explained[end.run_id] = (explanation.phrase, incident_id)
        self._callbacks[end.run_id] = end.on_explained
        self._changed.add(ending.process_id)

    def run_end_written(self, end: RecordRunEnd, committed: bool) -> None:
        """After the transaction of `end`: tell its process what explains its crash, if it was
        concluded in it."""
        if not committed:
            self._explained.pop(end.run_id, None)
            self._callbacks.pop(end.run_id, None)
        self._tell_explained()

    def _tell_explained(self) -> None:
        """After a commit: tell each process whose crash was just linked, then the listener."""
        explained, self._explained = self._explained, {}
        for run_id, (phrase, incident_id) in explained.items():
            callback = self._callbacks.pop(run_id, None)
            if callback is not None:
                callback(phrase, incident_id)
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
