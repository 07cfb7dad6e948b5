"""Detection under random interleavings of prints, idle time, run ends, clears and writer
restarts, on a real writer and SQLite file: the mark and the tracker never drift apart, so
every error printed is counted exactly once, and every crash is linked to an error."""

from __future__ import annotations

import concurrent.futures
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import apsw
import msgspec
import pykka
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pm_actors.actors.incidents.queries import ErrorQueries
from pm_actors.actors.messages import STDERR, DeleteLines, Flush, LogBatch, RecordRunEnd, RecordRunStart
from pm_actors.actors.store import open_read_connection, open_write_connection
from pm_actors.definition import ProcessDefinition
from pm_actors.states import ProcessState
from tests.log_store_support import start_writer

TS = 4_000_000_000.0
"""Far ahead: no run ever goes quiet, so what is held (an error line that a traceback may
follow, a traceback that a chained one may follow) is completed by the next line, the end of
its run or a stopping writer, never by the clock: the counts do not depend on timing."""
WAIT_S = 20.0
TEXTS = {
    "trace": 'Traceback (most recent call last):\n  File "app.py", line 3, in <module>\nValueError: boom',
    "error_line": "ERROR: disk full on /var",
    "ok": "request served",
}
Kind = Literal["trace", "error_line", "ok"]


@dataclass(frozen=True)
class Print:
    slot: int
    kind: Kind


@dataclass(frozen=True)
class Idle:
    budget_s: float | None
    """How long detection may run before the next step (0: the writer's own idle time only)."""


@dataclass(frozen=True)
class End:
    slot: int
    crashed: bool


@dataclass(frozen=True)
class Clear:
    pass


@dataclass(frozen=True)
class Restart:
    pass


Step = Print | Idle | End | Clear | Restart
slots = st.sampled_from([0, 1, 2])
steps = st.lists(
    st.one_of(
        st.builds(Print, slots, st.sampled_from(["trace", "error_line", "ok"])),
        st.builds(Print, slots, st.sampled_from(["trace", "error_line"])),
        st.builds(Idle, st.sampled_from([None, 0.0, 0.0005])),
        st.builds(End, slots, st.booleans()),
        st.just(Clear()),
        st.just(Restart()),
    ),
    min_size=1,
    max_size=16,
)


@dataclass
class Model:
    database: Path
    writer: pykka.ActorRef[Any]
    runs: dict[int, int] = field(default_factory=dict)
    """The live run of each slot (a slot is one process: slot + 1)."""
    next_run: int = 1
    printed: dict[str, int] = field(default_factory=lambda: {"trace": 0, "error_line": 0, "ok": 0})
    crashed: list[int] = field(default_factory=list)
    held_error_line: set[int] = field(default_factory=set)
    """Slots whose last line is an error line still held: a traceback right after it is the
    same error (a logged exception)."""

    def start_run(self, slot: int) -> int:
        run_id, self.next_run = self.next_run, self.next_run + 1
        self.writer.tell(RecordRunStart(run_id, slot + 1, 1000 + run_id, TS, "start_process"))
        self.runs[slot] = run_id
        return run_id

    def apply(self, step: Step) -> None:
        if isinstance(step, Print):
            run_id = self.runs.get(step.slot) or self.start_run(step.slot)
            entries = [(STDERR, TS, TEXTS[step.kind].split("\n"))]
            self.writer.tell(LogBatch(step.slot + 1, run_id, entries))
            self.printed[step.kind] += 1
            if step.kind == "trace" and step.slot in self.held_error_line:
                self.printed["error_line"] -= 1
            self.held_error_line.discard(step.slot)
            if step.kind == "error_line":
                self.held_error_line.add(step.slot)
        elif isinstance(step, Idle):
            self.writer.ask(Flush(classify_budget_s=step.budget_s))
        elif isinstance(step, End):
            self.end(step.slot, step.crashed)
        elif isinstance(step, Clear):
            cleared: concurrent.futures.Future[int] = concurrent.futures.Future()
            self.writer.tell(DeleteLines(None, None, cleared))
            cleared.result(timeout=WAIT_S)
        else:
            self.writer.stop(block=True)  # completes what it holds
            self.held_error_line.clear()
            self.writer = start_writer(self.database)

    def end(self, slot: int, crashed: bool) -> None:
        run_id = self.runs.pop(slot, None)
        self.held_error_line.discard(slot)
        if run_id is None:
            return
        state = ProcessState.CRASHED if crashed else ProcessState.EXITED
        self.writer.tell(RecordRunEnd(run_id, TS, 1 if crashed else 0, None, "ended", state))
        if crashed:
            self.crashed.append(run_id)


def check(model: Model, reader: apsw.Connection) -> None:
    listed = ErrorQueries(reader).get_errors(limit=1000).errors

    def counted(category: str) -> int:
        return sum(error.count for error in listed if error.category == category)

    assert counted("unhandled_exception") == model.printed["trace"]
    assert counted("error_line") == model.printed["error_line"]
    links = reader.execute("SELECT id, incident_id FROM runs WHERE end_state = 'crashed'").fetchall()
    assert sorted(int(str(run_id)) for run_id, _ in links) == sorted(model.crashed)
    assert all(incident_id is not None for _, incident_id in links)
    assert counted("exit_nonzero") <= len(model.crashed)


@pytest.mark.timeout(240)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=steps)
def test_every_error_printed_is_counted_once_whatever_the_interleaving(
    short_tmp: Path, script: list[Step]
) -> None:
    database = Path(tempfile.mkdtemp(dir=short_tmp)) / "pm.db"
    connection = open_write_connection(database)
    for process_id in (1, 2, 3):
        definition = ProcessDefinition(
            name=f"p{process_id}", command="app", executable="/usr/bin/app", args=[], cwd="/srv"
        )
        connection.execute(
            "INSERT INTO processes(id, name, definition, updated_at) VALUES(?, ?, ?, 0)",
            (process_id, definition.name, msgspec.msgpack.encode(definition)),
        )
    connection.close()
    model = Model(database, start_writer(database))
    try:
        for step in script:
            model.apply(step)
        for slot in list(model.runs):
            model.end(slot, crashed=False)
        model.writer.ask(Flush(classify_budget_s=None))
        reader = open_read_connection(database)
        try:
            check(model, reader)
        finally:
            reader.close()
    finally:
        model.writer.stop(block=True)
