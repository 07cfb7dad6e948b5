"""Error detection inside the real writer: behind its mark, at a run's end, across restarts."""

from __future__ import annotations

import concurrent.futures
import time
from pathlib import Path
from typing import Any

import apsw
import pykka
import pytest

from pm_actors.actors.incidents.detector import CHUNK_ROWS
from pm_actors.actors.incidents.queries import ErrorQueries
from pm_actors.actors.log_writer import LogWriterActor
from pm_actors.actors.messages import (
    STDERR,
    STDIN,
    STDOUT,
    Call,
    DeleteLines,
    DeleteProcessData,
    Flush,
    LogBatch,
    RecordRunEnd,
    RecordRunStart,
    SaveDefinition,
)
from pm_actors.actors.scheduler import Scheduler
from pm_actors.definition import ProcessDefinition
from pm_actors.error_requests import MarkErrorResolved
from pm_actors.error_results import ErrorRecord
from pm_actors.states import ProcessState
from tests.actors.incidents import samples
from tests.helpers import wait_until
from tests.log_store_support import KEEP_EVERYTHING

Writer = pykka.ActorRef[Any]
QUIET = 1_700_000_000.0
"""A time long past: lines stamped then are quiet, and a trace they end is complete at once."""
CAUGHT_UP = Flush(classify_budget_s=None)


def start(
    database: Path, changed: list[int] | None = None, scheduler: Scheduler | None = None, detect: bool = True
) -> Writer:
    listener = None if changed is None else changed.append
    return LogWriterActor.start(database, KEEP_EVERYTHING, scheduler, listener, detect)


def declare(writer: Writer, process_id: int, name: str, run_id: int) -> None:
    definition = ProcessDefinition(
        name=name, command="python3", executable="/usr/bin/python3", args=[], cwd="/srv/app"
    )
    writer.tell(SaveDefinition(process_id, definition, QUIET))
    writer.tell(RecordRunStart(run_id, process_id, 100 + run_id, QUIET, "start_process"))


def print_lines(writer: Writer, process_id: int, run_id: int, text: str, stream: int = STDERR) -> None:
    writer.tell(LogBatch(process_id, run_id, [(stream, QUIET, text.split("\n"))]))


def end(writer: Writer, run_id: int, exit_code: int | None = 1, **how: Any) -> tuple[str, int]:
    """End a run as crashed; what explained it once committed."""
    explained: concurrent.futures.Future[tuple[str, int]] = concurrent.futures.Future()
    writer.tell(
        RecordRunEnd(
            run_id,
            QUIET + run_id,
            exit_code,
            how.pop("exit_signal", None),
            how.pop("reason", f"exited on its own with code {exit_code}"),
            how.pop("state", ProcessState.CRASHED),
            on_explained=lambda phrase, error_id: explained.set_result((phrase, error_id)),
            **how,
        )
    )
    return explained.result(timeout=10)


def errors(database: Path) -> list[ErrorRecord]:
    connection = apsw.Connection(str(database), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return ErrorQueries(connection).get_errors(limit=100).errors
    finally:
        connection.close()


def scalar(database: Path, sql: str, *args: object) -> Any:
    connection = apsw.Connection(str(database), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return connection.execute(sql, args).get
    finally:
        connection.close()


def test_a_trace_printed_by_a_live_run_is_found_behind_the_mark(database: Path) -> None:
    changed: list[int] = []
    writer = start(database, changed)
    declare(writer, 1, "web", 1)
    print_lines(writer, 1, 1, "starting up", STDOUT)
    print_lines(writer, 1, 1, samples.PYTHON_TRACEBACK)
    writer.ask(CAUGHT_UP)

    [error] = errors(database)
    assert (error.name, error.category, error.count) == ("web", "module_not_found", 1)
    assert error.context == ["starting up"] and error.trace[-1] == error.message
    assert scalar(database, "SELECT classified_up_to FROM incident_progress") == 5
    assert changed == [1]


def test_with_error_tracking_off_nothing_is_looked_at_and_the_mark_follows_the_lines(database: Path) -> None:
    writer = start(database, detect=False)
    declare(writer, 1, "web", 1)
    print_lines(writer, 1, 1, samples.PYTHON_TRACEBACK)
    writer.tell(RecordRunEnd(1, QUIET, 1, None, "exited on its own with code 1", ProcessState.CRASHED))
    writer.ask(CAUGHT_UP)
    writer.stop(block=True)
    assert errors(database) == [] and scalar(database, "SELECT ended_at FROM runs WHERE id = 1") == QUIET
    assert scalar(database, "SELECT classified_up_to FROM incident_progress") == 4


def test_what_was_sent_to_a_process_is_not_taken_for_its_error(database: Path) -> None:
    writer = start(database)
    declare(writer, 1, "repl", 1)
    print_lines(writer, 1, 1, "raise ValueError('ERROR: typed by the user')", STDIN)
    writer.ask(CAUGHT_UP)
    assert errors(database) == []


def test_a_crash_is_linked_to_the_trace_its_output_showed(database: Path) -> None:
    writer = start(database)
    declare(writer, 1, "web", 1)
    print_lines(writer, 1, 1, samples.PYTHON_TRACEBACK)

    phrase, error_id = end(writer, 1)

    [error] = errors(database)
    assert (phrase, error_id) == ("ModuleNotFoundError: No module named 'flask'", error.id)
    assert (error.count, error.runs_affected) == (1, 1)
    assert scalar(database, "SELECT incident_id FROM runs WHERE id = 1") == error.id


def test_a_quiet_crash_is_an_exit_nonzero_error_with_its_last_stderr_lines(database: Path) -> None:
    writer = start(database)
    declare(writer, 1, "job", 1)
    print_lines(writer, 1, 1, "working", STDOUT)
    print_lines(writer, 1, 1, "cleaning up\ngiving up")

    phrase, error_id = end(writer, 1, exit_code=3)

    [error] = errors(database)
    assert (phrase, error.id, error.category) == ("exited on its own with code 3", error_id, "exit_nonzero")
    assert error.trace == ["cleaning up", "giving up"]


def test_a_sigkill_near_the_memory_limit_is_out_of_memory(database: Path) -> None:
    writer = start(database)
    declare(writer, 1, "hog", 1)
    phrase, _ = end(writer, 1, exit_code=None, exit_signal="SIGKILL", memory_mb=900.0, memory_limit_mb=1000.0)
    [error] = errors(database)
    assert error.category == "out_of_memory" and phrase == "killed by SIGKILL at 900 MB of its 1000 MB limit"


def test_a_run_that_never_started_is_explained_by_why(database: Path) -> None:
    writer = start(database)
    declare(writer, 1, "gone", 1)
    phrase, _ = end(writer, 1, exit_code=None, reason="could not start /srv/app/run: Permission denied")
    [error] = errors(database)
    assert (error.category, phrase) == ("spawn_failed", "could not start /srv/app/run: Permission denied")


def test_a_restart_resumes_at_the_mark_and_counts_nothing_twice(database: Path) -> None:
    first = start(database)
    declare(first, 1, "web", 1)
    print_lines(first, 1, 1, samples.GO_PANIC)
    first.stop(block=True)  # detection catches up and completes what it holds before stopping

    second = start(database)
    print_lines(second, 1, 1, samples.GO_PANIC)
    second.ask(CAUGHT_UP)

    [error] = errors(database)
    assert error.count == 2 and error.error_type == "panic"


def test_errors_keep_their_evidence_when_their_lines_are_cleared(database: Path) -> None:
    writer = start(database)
    declare(writer, 1, "web", 1)
    print_lines(writer, 1, 1, samples.PYTHON_TRACEBACK)
    cleared: concurrent.futures.Future[int] = concurrent.futures.Future()
    writer.tell(DeleteLines(None, None, cleared))  # before detection got to them: it does first
    assert cleared.result(timeout=10) == 4

    [error] = errors(database)
    assert error.trace == samples.PYTHON_TRACEBACK.split("\n")


def test_errors_go_with_their_process(database: Path) -> None:
    writer = start(database)
    declare(writer, 1, "web", 1)
    print_lines(writer, 1, 1, samples.PYTHON_TRACEBACK)
    end(writer, 1)
    deleted: concurrent.futures.Future[int] = concurrent.futures.Future()
    writer.tell(DeleteProcessData(1, deleted))
    deleted.result(timeout=10)
    assert errors(database) == []
    assert scalar(database, "SELECT count(*) FROM incident_runs") == 0


def test_resolving_an_error_answers_it_resolved_and_tells_who_listens(database: Path) -> None:
    changed: list[int] = []
    writer = start(database, changed)
    declare(writer, 2, "api", 1)
    print_lines(writer, 2, 1, samples.NODE_ERROR)
    _, error_id = end(writer, 1)
    resolved: concurrent.futures.Future[ErrorRecord] = concurrent.futures.Future()

    writer.tell(Call(MarkErrorResolved(error_id=error_id, note="port read from env"), resolved))

    record = resolved.result(timeout=10)
    assert record.resolved and record.resolution_note == "port read from env"
    assert changed == [2, 2]


def test_a_trace_is_held_until_its_run_goes_quiet(database: Path, scheduler: Scheduler) -> None:
    writer = start(database, scheduler=scheduler)
    declare(writer, 1, "web", 1)
    now = time.time()
    lines = samples.PYTHON_TRACEBACK.split("\n")
    writer.tell(LogBatch(1, 1, [(STDERR, now, lines)]))
    writer.ask(CAUGHT_UP)
    assert errors(database) == []  # the exception line may be followed by a chained one

    wait_until(lambda: errors(database), message="the settle timer to complete the trace")


def test_a_run_that_ends_after_a_flood_is_concluded_once_detection_reaches_its_end(database: Path) -> None:
    writer = start(database)
    declare(writer, 1, "flood", 1)
    writer.tell(LogBatch(1, 1, [(STDOUT, QUIET, ["ok"] * (CHUNK_ROWS * 2))]))
    print_lines(writer, 1, 1, samples.PYTHON_TRACEBACK)

    phrase, error_id = end(writer, 1)  # more than a chunk left: the end is concluded in idle time

    assert phrase == "ModuleNotFoundError: No module named 'flask'"
    assert scalar(database, "SELECT incident_id FROM runs WHERE errors_checked = 1") == error_id


def test_a_run_a_killed_daemon_left_unconcluded_is_concluded_by_the_next(database: Path) -> None:
    writer = start(database)
    declare(writer, 1, "web", 1)
    writer.stop(block=True)
    connection = apsw.Connection(str(database))
    with connection:  # what a daemon killed between storing the end and classifying it leaves
        lines = [(10 + n, line) for n, line in enumerate(samples.PYTHON_TRACEBACK.split("\n"))]
        connection.executemany(
            "INSERT INTO logs(id, process_id, run_id, stream, ts, line) VALUES(?, 1, 1, 1, 0, ?)", lines
        )
        connection.execute("UPDATE runs SET ended_at = 5, exit_code = 1, end_state = 'crashed' WHERE id = 1")
        connection.execute("UPDATE id_sequences SET next_id = 20 WHERE name = 'logs'")
    connection.close()

    start(database).ask(CAUGHT_UP)

    [error] = errors(database)
    assert scalar(database, "SELECT crash_phrase FROM runs WHERE id = 1") == error.message


@pytest.mark.timeout(60)
def test_detection_follows_many_chunks_and_a_long_flood_in_order(database: Path) -> None:
    writer = start(database)
    declare(writer, 1, "flood", 1)
    for _ in range(3):
        writer.tell(LogBatch(1, 1, [(STDOUT, QUIET, ["ok"] * CHUNK_ROWS)]))
        print_lines(writer, 1, 1, samples.RUST_PANIC)
    writer.ask(CAUGHT_UP)
    [error] = errors(database)
    assert error.count == 3
