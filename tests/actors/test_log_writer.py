from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import apsw
import msgspec
import pykka
import pytest

from pm_actors.actors.log_writer import MAX_PENDING_LINES, LogWriterActor
from pm_actors.actors.messages import (
    STDERR,
    STDOUT,
    DeleteProcessData,
    Flush,
    LogBatch,
    LogEntry,
    RecordRunEnd,
    RecordRunStart,
    SaveDefinition,
)
from pm_actors.actors.store import next_id
from pm_actors.definition import ProcessDefinition
from pm_actors.states import ProcessState
from tests.helpers import wait_until
from tests.log_store_support import check_index_matches_rows, start_writer

Writer = pykka.ActorRef[LogWriterActor]


def entries(texts: list[str], stream: int = STDOUT) -> list[LogEntry]:
    return [(stream, 1_700_000_000.0, text) for text in texts]


def count(connection: apsw.Connection, sql: str, *args: Any) -> int:
    return int(connection.execute(sql, args).get)


def stored_lines(connection: apsw.Connection, process_id: int) -> list[str]:
    rows = connection.execute("SELECT line FROM logs WHERE process_id = ? ORDER BY id", (process_id,))
    return [line for (line,) in rows]


def index_finds(connection: apsw.Connection, word: str) -> int:
    return count(connection, "SELECT count(*) FROM logs_fts WHERE logs_fts MATCH ?", f'"{word}"')


def deleted(writer: Writer, process_id: int) -> Any:
    """Delete a process's data; the number of lines that went, once committed."""
    done: concurrent.futures.Future[Any] = concurrent.futures.Future()
    writer.tell(DeleteProcessData(process_id, done))
    return done.result(timeout=10)


def hold(writer: Writer) -> threading.Event:
    """Keep the writer busy inside a commit callback until the returned event is set, so that
    the messages told meanwhile queue up in its inbox."""
    holding, release = threading.Event(), threading.Event()

    def block() -> None:
        holding.set()
        release.wait(10)

    writer.tell(LogBatch(99, 99, [], on_committed=block))
    assert holding.wait(10)
    return release


def definition(name: str, *args: str) -> ProcessDefinition:
    return ProcessDefinition(
        name=name, command="python", executable="/usr/bin/python3", args=list(args), cwd="/"
    )


@pytest.mark.timeout(30)
def test_a_hundred_thousand_lines_arrive_in_order_and_each_batch_is_confirmed_once_visible(
    database: Path, reader: apsw.Connection
) -> None:
    writer = start_writer(database)
    sent = [f"line {number} of the flood" for number in range(100_000)]
    visible_at_confirmation: list[tuple[int, int]] = []

    def confirm(batch_number: int, last_text: str) -> Callable[[], None]:
        def on_committed() -> None:
            seen = count(reader, "SELECT count(*) FROM logs WHERE process_id = 1 AND line = ?", last_text)
            visible_at_confirmation.append((batch_number, seen))

        return on_committed

    for batch_number, start in enumerate(range(0, len(sent), 1000)):
        texts = sent[start : start + 1000]
        stream = STDERR if batch_number % 2 else STDOUT
        writer.tell(LogBatch(1, 1, entries(texts, stream), on_committed=confirm(batch_number, texts[-1])))
    writer.ask(Flush())

    assert stored_lines(reader, 1) == sent
    assert visible_at_confirmation == [(batch_number, 1) for batch_number in range(100)]
    assert count(reader, "SELECT count(*) FROM logs WHERE stream = ?", STDERR) == 50_000
    assert index_finds(reader, "flood") == 100_000


def test_a_lone_batch_is_committed_without_waiting_for_more(database: Path, reader: apsw.Connection) -> None:
    writer = start_writer(database)
    committed = threading.Event()

    writer.tell(LogBatch(1, 1, entries(["just one"]), on_committed=committed.set))

    assert committed.wait(10)
    assert stored_lines(reader, 1) == ["just one"]


def test_a_burst_is_committed_in_transactions_of_the_batch_size(
    database: Path, reader: apsw.Connection
) -> None:
    writer = start_writer(database)
    release = hold(writer)
    visible_when_first_confirmed: list[int] = []
    writer.tell(
        LogBatch(
            1,
            1,
            entries(["burst"] * 1000),
            on_committed=lambda: visible_when_first_confirmed.append(
                count(reader, "SELECT count(*) FROM logs")
            ),
        )
    )
    for _ in range(29):
        writer.tell(LogBatch(1, 1, entries(["burst"] * 1000)))
    release.set()
    writer.ask(Flush())

    # The first batch was committed together with the nine queued behind it.
    assert visible_when_first_confirmed == [MAX_PENDING_LINES]


def test_flush_writes_lines_that_were_still_pending(database: Path, reader: apsw.Connection) -> None:
    writer = start_writer(database)
    release = hold(writer)
    writer.tell(LogBatch(1, 1, entries(["pending"])))
    flushed = writer.ask(Flush(), block=False)  # queued behind the batch, which then waits for it
    release.set()

    flushed.get(timeout=10)

    assert stored_lines(reader, 1) == ["pending"]


def test_stopping_the_writer_commits_what_it_was_holding(database: Path, reader: apsw.Connection) -> None:
    writer = start_writer(database)
    release = hold(writer)
    writer.tell(LogBatch(1, 1, entries(["last words"])))
    writer.stop(block=False)
    release.set()

    wait_until(lambda: not writer.is_alive(), message="the writer to stop")

    assert stored_lines(reader, 1) == ["last words"]


def test_line_ids_continue_after_a_restarted_writer(database: Path, reader: apsw.Connection) -> None:
    first = start_writer(database)
    first.tell(LogBatch(1, 1, entries(["a", "b", "c"])))
    first.stop(block=True)

    second = start_writer(database)
    second.tell(LogBatch(1, 2, entries(["d"])))
    second.ask(Flush())

    rows = reader.execute("SELECT id, line FROM logs ORDER BY id").fetchall()
    assert rows == [(1, "a"), (2, "b"), (3, "c"), (4, "d")]


def test_line_ids_are_not_handed_out_again_after_the_newest_lines_were_deleted(
    database: Path, reader: apsw.Connection
) -> None:
    first = start_writer(database)
    first.tell(LogBatch(1, 1, entries(["a", "b", "c"])))
    assert deleted(first, 1) == 3
    first.stop(block=True)

    second = start_writer(database)
    second.tell(LogBatch(2, 2, entries(["d"])))
    second.ask(Flush())

    assert reader.execute("SELECT id, line FROM logs").fetchall() == [(4, "d")]
    assert next_id(reader, "logs") == 5  # moved in the transaction that stored the line
    check_index_matches_rows(database)


def test_lines_are_stored_without_ansi_escapes_and_with_the_last_redraw_only(
    database: Path, reader: apsw.Connection
) -> None:
    writer = start_writer(database)
    writer.tell(
        LogBatch(1, 1, entries(["\x1b[1;32mgreen\x1b[0m done", "10%\r55%\r100%", "\x1b]0;title\x07plain"]))
    )
    writer.ask(Flush())

    assert stored_lines(reader, 1) == ["green done", "100%", "plain"]
    assert index_finds(reader, "green") == 1


def test_the_parts_of_identifiers_are_indexed_beside_the_line(
    database: Path, reader: apsw.Connection
) -> None:
    writer = start_writer(database)
    writer.tell(LogBatch(1, 1, entries(["raise ConnectionRefusedError(111)", "plain error text"])))
    writer.ask(Flush())

    assert reader.execute("SELECT parts FROM logs ORDER BY id").fetchall() == [
        ("Connection Refused Error",),
        (None,),
    ]
    assert (index_finds(reader, "error"), index_finds(reader, "refused")) == (2, 1)
    check_index_matches_rows(database)


def test_deleting_a_process_removes_its_lines_runs_definition_and_index_entries(
    database: Path, reader: apsw.Connection
) -> None:
    writer = start_writer(database)
    for process_id, name in ((1, "doomed"), (2, "kept")):
        writer.tell(SaveDefinition(process_id, definition(name), time.time()))
        writer.tell(RecordRunStart(process_id, process_id, 100, time.time(), "test"))
        writer.tell(LogBatch(process_id, process_id, entries([f"shared {name}word"] * 10)))

    assert deleted(writer, 1) == 10
    writer.ask(Flush())

    assert count(reader, "SELECT count(*) FROM logs WHERE process_id = 1") == 0
    assert count(reader, "SELECT count(*) FROM runs WHERE process_id = 1") == 0
    assert count(reader, "SELECT count(*) FROM processes WHERE id = 1") == 0
    assert index_finds(reader, "doomedword") == 0
    assert (index_finds(reader, "keptword"), index_finds(reader, "shared")) == (10, 10)
    check_index_matches_rows(database)


def test_saving_a_definition_again_replaces_it_under_the_same_id(
    database: Path, reader: apsw.Connection
) -> None:
    writer = start_writer(database)
    writer.tell(SaveDefinition(1, definition("web", "--old"), 1.0))
    writer.tell(SaveDefinition(1, definition("web", "--new"), 2.0))
    writer.ask(Flush())

    rows = reader.execute("SELECT id, name, definition, updated_at FROM processes").fetchall()
    assert len(rows) == 1
    process_id, name, blob, updated_at = rows[0]
    assert (process_id, name, updated_at) == (1, "web", 2.0)
    assert isinstance(blob, bytes)
    assert msgspec.msgpack.decode(blob, type=ProcessDefinition).args == ["--new"]


def test_a_run_is_recorded_when_it_starts_and_closed_when_it_ends(
    database: Path, reader: apsw.Connection
) -> None:
    writer = start_writer(database)
    writer.tell(
        RecordRunStart(run_id=5, process_id=1, pid=4242, started_at=10.0, requested_by="start_process")
    )
    writer.ask(Flush())
    assert reader.execute("SELECT pid, ended_at, requested_by FROM runs WHERE id = 5").fetchall() == [
        (4242, None, "start_process")
    ]

    writer.tell(
        RecordRunEnd(
            run_id=5,
            ended_at=12.5,
            exit_code=None,
            exit_signal="SIGTERM",
            end_reason="stopped",
            end_state=ProcessState.STOPPED,
        )
    )
    writer.ask(Flush())
    assert reader.execute(
        "SELECT ended_at, exit_code, exit_signal, end_reason, end_state FROM runs WHERE id = 5"
    ).fetchall() == [(12.5, None, "SIGTERM", "stopped", "stopped")]


def test_a_run_starts_on_committed_runs_once_its_row_is_visible(
    database: Path, reader: apsw.Connection
) -> None:
    writer = start_writer(database)
    seen: list[list[Any]] = []

    def look() -> None:
        seen.append(reader.execute("SELECT pid FROM runs WHERE id = 7").fetchall())

    writer.tell(RecordRunStart(7, 1, 4242, 10.0, "start_process", on_committed=look))
    writer.ask(Flush())
    assert seen == [[(4242,)]]


def test_a_failing_commit_callback_is_logged_and_the_writer_carries_on(
    database: Path, reader: apsw.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    writer = start_writer(database)

    def fail() -> None:
        raise RuntimeError("callback broke")

    writer.tell(LogBatch(1, 1, entries(["before"]), on_committed=fail))
    writer.tell(LogBatch(1, 1, entries(["after"])))
    writer.ask(Flush())

    assert stored_lines(reader, 1) == ["before", "after"]
    assert "on_committed callback" in caplog.text


def test_a_write_that_fails_is_logged_and_the_messages_around_it_are_kept_in_order(
    database: Path, reader: apsw.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    writer = start_writer(database)
    writer.tell(RecordRunStart(1, 1, 100, 1.0, "test"))
    release = hold(writer)
    confirmations: list[str] = []
    writer.tell(LogBatch(1, 1, entries(["one"]), on_committed=lambda: confirmations.append("one")))
    writer.tell(RecordRunStart(1, 1, 100, 1.0, "test"))  # the same run id again: refused
    writer.tell(LogBatch(1, 1, entries(["two"]), on_committed=lambda: confirmations.append("two")))
    nothing_to_delete: concurrent.futures.Future[Any] = concurrent.futures.Future()
    writer.tell(DeleteProcessData(7, nothing_to_delete))
    flushed = writer.ask(Flush(), block=False)
    with caplog.at_level(logging.ERROR):
        release.set()
        flushed.get(timeout=10)

    assert stored_lines(reader, 1) == ["one", "two"]
    assert confirmations == ["one", "two"]
    assert nothing_to_delete.result(timeout=10) == 0
    assert "lost RecordRunStart(run_id=1" in caplog.text
    assert writer.is_alive()


def unindexed(connection: apsw.Connection) -> int:
    return count(connection, "SELECT count(*) FROM logs WHERE id > (SELECT indexed_up_to FROM fts_progress)")


def test_lines_are_committed_before_they_are_indexed_then_indexed_when_the_writer_is_idle(
    database: Path, reader: apsw.Connection
) -> None:
    writer = start_writer(database)
    at_commit: list[tuple[int, int]] = []
    texts = [f"captured {number}" for number in range(12_000)]
    writer.tell(
        LogBatch(
            1,
            1,
            entries(texts),
            on_committed=lambda: at_commit.append(
                (count(reader, "SELECT count(*) FROM logs"), unindexed(reader))
            ),
        )
    )
    wait_until(lambda: at_commit, message="the commit")
    assert at_commit == [(12_000, 12_000)], "stored at plain-insert speed, indexed afterwards"
    wait_until(lambda: unindexed(reader) == 0, message="the idle writer to index every line")
    assert index_finds(reader, "captured") == 12_000


def test_a_flush_with_an_unbounded_budget_leaves_nothing_unindexed(
    database: Path, reader: apsw.Connection
) -> None:
    writer = start_writer(database)
    release = hold(writer)
    writer.tell(LogBatch(1, 1, entries([f"line {number}" for number in range(20_000)])))
    flushed = writer.ask(Flush(), block=False)
    release.set()
    flushed.get(timeout=10)
    assert unindexed(reader) == 0


def test_deleting_a_process_whose_lines_are_partly_indexed_keeps_the_index_consistent(
    database: Path, reader: apsw.Connection
) -> None:
    writer = start_writer(database)
    writer.tell(LogBatch(1, 1, entries([f"doomed {number}" for number in range(30_000)])))
    writer.tell(LogBatch(2, 2, entries(["survivor"])))
    writer.ask(Flush(index_budget_s=0))
    assert deleted(writer, 1) == 30_000
    writer.ask(Flush())
    check_index_matches_rows(database)
    assert (index_finds(reader, "doomed"), index_finds(reader, "survivor"), unindexed(reader)) == (0, 1, 0)
