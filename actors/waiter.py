"""WaitActor: `wait_for` in one call, so an agent need not poll for "ready".

Every pending wait is evaluated on a short tick while any is pending: new output lines of the
process's current run (read on this actor's own connection, beside the writer), its listening
ports (asked of the MetricsActor), its health and its state (from the RecordBoard). A wait ends
as soon as its condition holds, at its timeout, or at once when it can no longer hold (the
process is fatal, stopped, exited or crashed for good), with the newest output lines, so the
caller can see why (they come with any end of the process, so a one-shot step that exited
shows how).

`exited` waits for the end of the run that was current when the wait began (the last one, if
none is), whether or not a restart follows: a crash-looping process answers at each crash. It
answers with that run as stored (read once its end is committed, so with the error that
explains a crash), as does a wait that gave up, with the process's last run.

Every hook and handler below runs on this actor's own thread.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apsw
import pykka

from pm_actors.actors.base import DaemonActor, answer, fail
from pm_actors.actors.line_budget import CharBudget
from pm_actors.actors.log_queries import LINE_COLUMNS, LogQueries, log_line_from_row
from pm_actors.actors.messages import STDIN, Reply, StartWait, WaitTick
from pm_actors.actors.observer_messages import ListeningPorts
from pm_actors.actors.read_budget import ReadBudget
from pm_actors.actors.records import RecordBoard
from pm_actors.actors.run import outcome_of, run_summary
from pm_actors.actors.scheduler import Scheduler
from pm_actors.actors.store import last_line_of_run, open_read_connection, stored_run
from pm_actors.api import TailLogs, WaitFor
from pm_actors.errors import DaemonUnavailable, InternalError, ProcessNotFound
from pm_actors.log_results import LogLine
from pm_actors.request_base import DEFAULT_MAX_CHARS, DEFAULT_MAX_LINE_CHARS
from pm_actors.results import ProcessRecord, RunSummary, WaitResult
from pm_actors.states import ENDED_STATES, Health, ProcessState

logger = logging.getLogger(__name__)

TICK_S = 0.01
"""How often pending waits look again: a log line is seen within about this of being stored."""
PORT_CHECK_EVERY_S = 0.05
"""Listing sockets costs more than reading new lines, so ports are looked at less often."""
LINES_PER_LOOK = 50_000
"""Lines examined per wait and tick at most, so one flood cannot stall every other wait."""
LAST_LINES_ON_TIMEOUT = 20


@dataclass
class PendingWait:
    request: WaitFor
    process_id: int
    reply: Reply
    pattern: re.Pattern[str] | None
    started: float
    deadline: float
    run_id: int | None = None
    after_id: int = 0
    next_port_check: float = 0.0
    awaited_run: int | None = None
    """For `exited`: the run whose end is awaited, once known (a process still starting has none yet)."""


class WaitActor(DaemonActor):
    may_ask = frozenset({"MetricsActor"})

    def __init__(
        self,
        database_path: Path,
        scheduler: Scheduler,
        board: RecordBoard,
        metrics: pykka.ActorRef[Any],
        budget: ReadBudget,
    ) -> None:
        super().__init__()
        self._budget = budget
        self._database_path = database_path
        self._scheduler = scheduler
        self._board = board
        self._metrics = metrics
        self._waits: list[PendingWait] = []
        self._tick_scheduled = False
        self._connection: apsw.Connection | None = None

    def on_start(self) -> None:
        self._connection = open_read_connection(self._database_path)

    def on_stop(self) -> None:
        for wait in self._waits:
            fail(wait.reply, DaemonUnavailable("the daemon is shutting down; the wait was abandoned"))
        if self._connection is not None:
            self._connection.close()
        super().on_stop()

    def handle(self, message: Any) -> Any:
        if isinstance(message, StartWait):
            self._start(message)
        elif isinstance(message, WaitTick):
            self._tick_scheduled = False
            self._evaluate_all()
        else:
            raise InternalError(f"the wait actor cannot handle {type(message).__name__}")
        return None

    def _start(self, message: StartWait) -> None:
        request = message.request
        pattern = request.compiled_pattern()
        now = time.monotonic()
        wait = PendingWait(request, message.process_id, message.reply, pattern, now, now + request.timeout_s)
        self._waits.append(wait)
        self._evaluate_all()

    def _evaluate_all(self) -> None:
        still_pending = []
        for wait in self._waits:
            try:
                done = self._evaluate_within_budget(wait)
            except Exception as error:
                # One broken wait is answered and dropped; the others and the ticks go on.
                fail(wait.reply, self.failure_of(f"wait_for {wait.request.name!r}", error))
                done = True
            if not done:
                still_pending.append(wait)
        self._waits = still_pending
        if self._waits and not self._tick_scheduled:
            self._tick_scheduled = True
            self._scheduler.tell_later(TICK_S, self.actor_ref, WaitTick())

    def _evaluate_within_budget(self, wait: PendingWait) -> bool:
        if self._connection is None:
            return self._evaluate(wait)
        with self._budget.limit(self._connection, f"wait_for {wait.request.name!r}"):
            return self._evaluate(wait)

    def _evaluate(self, wait: PendingWait) -> bool:
        """True when the wait is answered (either way)."""
        record = self._board.get(wait.request.name)
        if record is None:
            raise ProcessNotFound(f"process {wait.request.name!r} was deleted while waiting")
        until = wait.request.until
        if until == "exited":
            return self._run_ended(wait, record)
        if until == "log_line":
            line = self._matching_line(wait, record)
            if line is not None:
                return self._finish(wait, satisfied=True, record=record, matched_line=line)
        elif until == "port":
            port = self._listening_port(wait)
            if port is not None:
                return self._finish(wait, satisfied=True, record=record, port=port)
        elif (until == "running" and record.state is ProcessState.RUNNING) or (
            until == "healthy" and record.health is Health.HEALTHY
        ):
            return self._finish(wait, satisfied=True, record=record)
        if record.state in ENDED_STATES:
            return self._give_up(wait, record)
        if time.monotonic() >= wait.deadline:
            return self._finish(wait, satisfied=False, record=record)
        return False

    def _run_ended(self, wait: PendingWait, record: ProcessRecord) -> bool:
        """`exited`: answered once the awaited run's end is committed, and the process's record
        no longer shows it going (the writer may commit the end before the record changes)."""
        if wait.awaited_run is None and record.state is not ProcessState.STARTING:
            wait.awaited_run = record.run_id  # the current run, or the last one if none is
            if record.run_id is None:
                return self._finish(wait, False, record, gave_up="it has never run; start_process it first")
        going = record.run_id == wait.awaited_run and record.state in (
            ProcessState.RUNNING,
            ProcessState.STOPPING,
        )
        run = None if wait.awaited_run is None or going else self._stored_run(wait.awaited_run)
        if run is not None:
            return self._finish(wait, satisfied=True, record=record, run=run)
        if time.monotonic() >= wait.deadline:
            return self._finish(wait, satisfied=False, record=record)
        return False

    def _give_up(self, wait: PendingWait, record: ProcessRecord) -> bool:
        """The process ended for good: answer at once with why, and with its last run as stored
        (once its end is committed: it says what explains a crash)."""
        run = None if record.run_id is None else self._stored_run(record.run_id)
        if run is None and record.run_id is not None and time.monotonic() < wait.deadline:
            return False
        why = f"it is {record.state.value}" + (f": {record.end_reason}" if record.end_reason else "")
        return self._finish(wait, satisfied=False, record=record, run=run, gave_up=why)

    def _stored_run(self, run_id: int) -> RunSummary | None:
        """The run as stored once its end is committed and, if it crashed, concluded (linked to
        what explains it), else None. Any other end has nothing to explain: its answer does not
        wait for error detection to reach the end of a flood."""
        run = None if self._connection is None else stored_run(self._connection, run_id)
        if run is None or run.ended_at is None:
            return None
        if run.end_state == ProcessState.CRASHED and not run.errors_checked:
            return None
        return run_summary(outcome_of(run))

    def _matching_line(self, wait: PendingWait, record: ProcessRecord) -> LogLine | None:
        if record.run_id is None or self._connection is None or wait.pattern is None:
            return None
        if wait.run_id != record.run_id:
            wait.run_id = record.run_id
            wait.after_id = self._last_id_before_run(wait.process_id, record.run_id)
        rows = self._connection.execute(
            f"SELECT {LINE_COLUMNS} FROM logs l WHERE l.process_id = ? AND l.id > ? AND l.run_id = ? "
            "ORDER BY l.id LIMIT ?",
            (wait.process_id, wait.after_id, record.run_id, LINES_PER_LOOK),
        )
        for row in rows:
            wait.after_id = row[0]
            # What was sent to it is not what it printed: a REPL's input must not match its pattern.
            if row[2] != STDIN and wait.pattern.search(row[4]):
                # Sized like a line of get_logs: a match in a huge line is cut, and says so.
                budget = CharBudget(DEFAULT_MAX_CHARS, DEFAULT_MAX_LINE_CHARS)
                return log_line_from_row(
                    row, *(budget.take(row[4], wait.request.name, row[0]) or (row[4], 0))
                )
        return None

    def _last_id_before_run(self, process_id: int, run_id: int) -> int:
        """Where the current run's lines begin: found walking back from the newest line, so
        that only this run's lines are read, however long the history."""
        if self._connection is None:
            return 0
        rows = self._connection.execute(
            "SELECT id, run_id FROM logs WHERE process_id = ? ORDER BY id DESC", (process_id,)
        )
        for line_id, line_run_id in rows:
            if line_run_id != run_id:
                return int(line_id)
        return 0

    def _listening_port(self, wait: PendingWait) -> int | None:
        now = time.monotonic()
        if now < wait.next_port_check:
            return None
        wait.next_port_check = now + PORT_CHECK_EVERY_S
        ports: list[int] = self.ask(self._metrics, ListeningPorts(wait.request.name))
        wanted = wait.request.port
        if wanted is None:
            return ports[0] if ports else None
        return wanted if wanted in ports else None

    def _finish(
        self,
        wait: PendingWait,
        satisfied: bool,
        record: ProcessRecord,
        matched_line: LogLine | None = None,
        port: int | None = None,
        run: RunSummary | None = None,
        gave_up: str | None = None,
    ) -> bool:
        ended = record.state in ENDED_STATES or run is not None
        last_lines = [] if satisfied and not ended else self._last_lines(wait, run)
        result = WaitResult(
            name=wait.request.name,
            satisfied=satisfied,
            until=wait.request.until,
            elapsed_ms=(time.monotonic() - wait.started) * 1000,
            state=record.state,
            matched_line=matched_line,
            port=port,
            last_lines=last_lines,
            run=run,
            gave_up=gave_up,
        )
        answer(wait.reply, result)
        return True

    def _last_lines(self, wait: PendingWait, run: RunSummary | None) -> list[LogLine]:
        """The newest lines of the process, or of `run` (a new run may have printed since)."""
        if self._connection is None:
            return []
        before = None
        if run is not None:
            last = last_line_of_run(self._connection, wait.process_id, run.run_id)
            if last == 0:
                return []
            before = last + 1
        tail = TailLogs(name=wait.request.name, limit=LAST_LINES_ON_TIMEOUT, before_id=before)
        return LogQueries(self._connection).tail_logs(tail, wait.process_id, time.time()).lines
