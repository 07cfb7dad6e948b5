"""The incidents tables on a real SQLite file: counting, reopening, crash links, reading back."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import apsw
import msgspec
import pytest

from pm_actors.actors.incidents import store
from pm_actors.actors.incidents.explain import Explanation, RunEnd, explain_crash
from pm_actors.actors.incidents.queries import ErrorQueries
from pm_actors.actors.incidents.tracker import Detected, IncidentTracker
from pm_actors.actors.store import open_read_connection, open_write_connection
from pm_actors.definition import ProcessDefinition
from pm_actors.errors import NotFound
from pm_actors.results import iso_utc
from tests.actors.incidents import samples

HOUR = 3600.0
NOW = 1_700_000_000.0


@pytest.fixture
def writer(short_tmp: Path) -> Iterator[apsw.Connection]:
    connection = open_write_connection(short_tmp / "pm.db")
    for process_id, name in ((1, "web"), (2, "worker")):
        definition = ProcessDefinition(
            name=name, command="python3", executable="/usr/bin/python3", args=[], cwd="/"
        )
        connection.execute(
            "INSERT INTO processes(id, name, definition, updated_at) VALUES(?, ?, ?, 0)",
            (process_id, name, msgspec.msgpack.encode(definition)),
        )
    yield connection
    connection.close()


@pytest.fixture
def queries(writer: apsw.Connection, short_tmp: Path) -> Iterator[ErrorQueries]:
    connection = open_read_connection(short_tmp / "pm.db")
    yield ErrorQueries(connection)
    connection.close()


def crash_of(process_id: int, run_id: int, trace: str, ts: float) -> Detected:
    tracker = IncidentTracker()
    ids = itertools.count(run_id * 100)
    found = tracker.feed((next(ids), process_id, run_id, 1, ts, line) for line in trace.split("\n"))
    [detected] = found + tracker.end_run(run_id)
    return detected


def add_run(writer: apsw.Connection, run_id: int, process_id: int) -> None:
    writer.execute(
        "INSERT INTO runs(id, process_id, pid, started_at, requested_by) VALUES(?, ?, 1, 0, 'start_process')",
        (run_id, process_id),
    )


def test_a_repeat_raises_the_count_and_runs_affected_instead_of_adding_a_row(
    writer: apsw.Connection, queries: ErrorQueries
) -> None:
    ids = {store.record(writer, crash_of(1, run, samples.PYTHON_TRACEBACK, NOW + run)) for run in range(1, 6)}
    [error] = queries.get_errors().errors
    assert len(ids) == 1
    assert (error.count, error.runs_affected, error.last_run_id, error.name) == (5, 5, 5, "web")
    assert (
        error.category == "module_not_found"
        and error.message == "ModuleNotFoundError: No module named 'flask'"
    )
    assert error.trace[-1] == error.message and error.first_seen < error.last_seen


def test_a_resolved_error_that_happens_again_is_reopened_and_says_so(
    writer: apsw.Connection, queries: ErrorQueries
) -> None:
    incident = store.record(writer, crash_of(1, 1, samples.GO_PANIC, NOW))
    store.mark_resolved(writer, incident, "fixed the index", NOW + 10)
    resolved = queries.one(incident)
    assert resolved.resolved and resolved.resolution_note == "fixed the index"
    assert "RESOLVED" in resolved.summary()

    store.record(writer, crash_of(1, 2, samples.GO_PANIC, NOW + 20))
    back = queries.one(incident)
    assert not back.resolved and back.reopened == 1 and back.last_resolved_at == resolved.resolved_at
    assert f"CAME BACK once after being resolved at {back.last_resolved_at} (note: fixed the index)" in (
        back.summary()
    )


def test_resolving_an_unknown_error_is_not_found(writer: apsw.Connection) -> None:
    with pytest.raises(NotFound, match="get_errors"):
        store.mark_resolved(writer, 999, None, NOW)


def test_the_same_error_in_another_process_is_listed_as_similar(
    writer: apsw.Connection, queries: ErrorQueries
) -> None:
    store.record(writer, crash_of(1, 1, samples.RUST_PANIC, NOW))
    store.record(writer, crash_of(2, 2, samples.RUST_PANIC, NOW + 1))
    web, worker = sorted(queries.get_errors().errors, key=lambda error: error.name)
    assert [(other.name, other.id) for other in web.similar] == [("worker", worker.id)]
    assert "the same error in: worker" in web.summary()


def test_a_quiet_crash_gets_exit_nonzero_with_its_last_stderr_lines(
    writer: apsw.Connection, queries: ErrorQueries
) -> None:
    add_run(writer, 7, 1)
    writer.executemany(
        "INSERT INTO logs(id, process_id, run_id, stream, ts, line) VALUES(?, 1, 7, ?, 0, ?)",
        [(1, 0, "working"), (2, 1, "cleaning up"), (3, 1, "giving up")],
    )
    explanation = explain_crash(RunEnd(3, None), store.shown_error(writer, 7) and None)
    incident = store.record_crash(writer, 7, 1, explanation, None, NOW)
    error = queries.one(incident)
    assert (error.category, error.message, error.trace) == (
        "exit_nonzero",
        "exited with code 3",
        ["cleaning up", "giving up"],
    )
    assert writer.execute("SELECT incident_id, crash_phrase FROM runs WHERE id = 7").fetchone() == (
        incident,
        "exited with code 3",
    )


def test_a_crash_the_output_explains_links_to_that_error(writer: apsw.Connection) -> None:
    add_run(writer, 3, 1)
    incident = store.record(writer, crash_of(1, 3, samples.PYTHON_TRACEBACK, NOW))
    shown = store.shown_error(writer, 3)
    assert shown is not None and shown[0] == incident
    explanation = explain_crash(RunEnd(1, None), shown[1])
    assert explanation == Explanation(
        "module_not_found", "ModuleNotFoundError: No module named 'flask'", True
    )
    assert store.record_crash(writer, 3, 1, explanation, shown[0], NOW) == incident


def test_latest_errors_count_by_category_and_process_with_an_hourly_trend(
    writer: apsw.Connection, queries: ErrorQueries
) -> None:
    store.record(writer, crash_of(1, 1, samples.PYTHON_TRACEBACK, NOW - 2 * HOUR))
    store.record(writer, crash_of(1, 2, samples.PYTHON_TRACEBACK, NOW))
    solved = store.record(writer, crash_of(2, 3, samples.NODE_EADDRINUSE, NOW))
    store.mark_resolved(writer, solved, None, NOW)
    overview = queries.latest(now=NOW)
    assert overview.unresolved == 1 and [error.name for error in overview.errors] == ["web"]
    assert overview.by_category == {"module_not_found": 2} and overview.by_process == {"web": 2}
    assert len(overview.per_hour) == 24 and overview.per_hour[-3:] == [1, 0, 2]
    assert overview.trend_since == iso_utc((NOW // HOUR - 23) * HOUR)


def test_listing_pages_newest_first_with_a_cursor(writer: apsw.Connection, queries: ErrorQueries) -> None:
    for run, trace in enumerate(samples.TRACES.values(), start=1):
        store.record(writer, crash_of(1, run, trace, NOW + run))
    first = queries.get_errors(limit=4)
    second = queries.get_errors(limit=4, after_id=first.next_after_id)
    rest = queries.get_errors(limit=4, after_id=second.next_after_id)
    seen = [error.last_seen for page in (first, second, rest) for error in page.errors]
    assert len(seen) == len(samples.TRACES) == len(set(seen)) and seen == sorted(seen, reverse=True)
    assert first.has_more and second.has_more and not rest.has_more


def test_deleting_a_process_forgets_its_errors(writer: apsw.Connection, queries: ErrorQueries) -> None:
    store.record(writer, crash_of(1, 1, samples.JAVA_EXCEPTION, NOW))
    store.record(writer, crash_of(2, 2, samples.JAVA_EXCEPTION, NOW))
    store.delete_process(writer, 1)
    assert [error.name for error in queries.get_errors().errors] == ["worker"]
    assert writer.execute("SELECT count(*) FROM incident_runs").get == 1
