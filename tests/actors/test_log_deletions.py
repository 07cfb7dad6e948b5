"""Deleting stored lines: clear_logs, delete_process and retention, on a real writer and file.

Every kind of deletion is followed by the check that the index still agrees with the rows."""

from __future__ import annotations

import concurrent.futures
import os
import time
from pathlib import Path
from typing import Any

import apsw
import pykka
import pytest

from pm_actors.actors.line_deletions import DELETE_CHUNK_ROWS
from pm_actors.actors.log_writer import LogWriterActor
from pm_actors.actors.messages import (
    STDOUT,
    DeleteLines,
    DeleteProcessData,
    Flush,
    Housekeeping,
    LogBatch,
    SaveDefinition,
)
from pm_actors.actors.retention import RetentionPolicy
from pm_actors.definition import ProcessDefinition
from pm_actors.errors import InternalError
from tests.helpers import wait_until
from tests.log_store_support import check_index_matches_rows, start_writer

Writer = pykka.ActorRef[LogWriterActor]
NOW = time.time()


def write(writer: Writer, process_id: int, texts: list[str], ts: float = NOW) -> None:
    writer.tell(LogBatch(process_id, process_id, [(STDOUT, ts, text) for text in texts]))


def lines_of(reader: apsw.Connection, process_id: int) -> list[str]:
    rows = reader.execute("SELECT line FROM logs WHERE process_id = ? ORDER BY id", (process_id,))
    return [line for (line,) in rows]


def cleared(writer: Writer, process_id: int | None = None, before_ts: float | None = None) -> Any:
    done: concurrent.futures.Future[Any] = concurrent.futures.Future()
    writer.tell(DeleteLines(process_id, before_ts, done))
    return done.result(timeout=30)


def fully_indexed(writer: Writer, database: Path) -> None:
    writer.ask(Flush(index_budget_s=None))
    check_index_matches_rows(database)


def test_clearing_everything_deletes_every_line_and_index_entry_and_counts_them(
    database: Path, reader: apsw.Connection
) -> None:
    writer = start_writer(database)
    write(writer, 1, ["alpha one", "alpha two"])
    write(writer, 2, ["beta"])
    writer.ask(Flush(index_budget_s=None))

    assert cleared(writer) == 3
    write(writer, 2, ["after the clear"])

    fully_indexed(writer, database)
    assert (lines_of(reader, 1), lines_of(reader, 2)) == ([], ["after the clear"])


def test_clearing_one_process_keeps_the_others(database: Path, reader: apsw.Connection) -> None:
    writer = start_writer(database)
    write(writer, 1, [f"doomed {number}" for number in range(2 * DELETE_CHUNK_ROWS + 7)])
    write(writer, 2, ["kept"])
    writer.ask(Flush(index_budget_s=0.01))  # partly indexed: both kinds of row are deleted

    assert cleared(writer, process_id=1) == 2 * DELETE_CHUNK_ROWS + 7

    fully_indexed(writer, database)
    assert (lines_of(reader, 1), lines_of(reader, 2)) == ([], ["kept"])


def test_clearing_lines_older_than_a_time_keeps_the_newer_ones(
    database: Path, reader: apsw.Connection
) -> None:
    writer = start_writer(database)
    write(writer, 1, ["old 1", "old 2"], ts=NOW - 7200)
    write(writer, 2, ["old 3"], ts=NOW - 7200)
    write(writer, 1, ["new 1"], ts=NOW)
    writer.ask(Flush(index_budget_s=None))

    assert cleared(writer, before_ts=NOW - 3600) == 3
    assert cleared(writer, process_id=1, before_ts=NOW - 3600) == 0

    fully_indexed(writer, database)
    assert (lines_of(reader, 1), lines_of(reader, 2)) == (["new 1"], [])


def test_new_lines_are_stored_between_the_chunks_of_a_long_deletion(
    database: Path, reader: apsw.Connection
) -> None:
    writer = start_writer(database)
    write(writer, 1, [f"line {number}" for number in range(5 * DELETE_CHUNK_ROWS)])
    writer.ask(Flush(index_budget_s=None))
    done: concurrent.futures.Future[Any] = concurrent.futures.Future()
    deletion_done_at_commit: list[bool] = []

    writer.tell(DeleteLines(1, None, done))
    writer.tell(
        LogBatch(
            2, 2, [(STDOUT, NOW, "fresh")], on_committed=lambda: deletion_done_at_commit.append(done.done())
        )
    )

    assert done.result(timeout=30) == 5 * DELETE_CHUNK_ROWS
    assert deletion_done_at_commit == [False]
    fully_indexed(writer, database)


def test_deleting_a_process_is_answered_once_committed_and_its_name_can_be_used_again(
    database: Path, reader: apsw.Connection
) -> None:
    writer = start_writer(database)
    definition = ProcessDefinition(name="p2", command="x", executable="/bin/x", args=[], cwd="/")
    writer.tell(SaveDefinition(1, definition, NOW))
    write(writer, 1, ["first life"])
    done: concurrent.futures.Future[Any] = concurrent.futures.Future()
    writer.tell(DeleteProcessData(1, done))
    writer.tell(SaveDefinition(2, definition, NOW))  # the same name under a new id
    write(writer, 2, ["second life"])

    assert done.result(timeout=10) == 1
    fully_indexed(writer, database)
    assert reader.execute("SELECT id, name FROM processes").fetchall() == [(2, "p2")]
    assert lines_of(reader, 2) == ["second life"]


def test_a_deletion_the_database_refuses_is_answered_with_the_error_not_as_done(
    database: Path, reader: apsw.Connection
) -> None:
    writer = start_writer(database)
    write(writer, 1, ["kept, since the deletion fails"])
    writer.ask(Flush())
    vandal = apsw.Connection(str(database))
    vandal.execute("DROP TABLE health_checks")  # the delete of a process's health checks fails
    vandal.close()
    done: concurrent.futures.Future[Any] = concurrent.futures.Future()

    writer.tell(DeleteProcessData(1, done))

    with pytest.raises(InternalError, match="no such table: health_checks"):
        done.result(timeout=10)
    assert lines_of(reader, 1) == ["kept, since the deletion fails"]
    assert writer.is_alive()


def test_a_definition_left_by_a_failed_delete_gives_way_to_the_new_one_of_its_name(
    database: Path, reader: apsw.Connection
) -> None:
    writer = start_writer(database)
    for process_id, args in ((1, ["--old"]), (2, ["--new"])):
        definition = ProcessDefinition(name="web", command="x", executable="/bin/x", args=args, cwd="/")
        writer.tell(SaveDefinition(process_id, definition, NOW))
    writer.ask(Flush())

    assert reader.execute("SELECT id, name FROM processes").fetchall() == [(2, "web")]


def test_a_process_past_the_size_limit_loses_its_oldest_lines_down_to_the_target(
    database: Path, reader: apsw.Connection
) -> None:
    policy = RetentionPolicy(max_age_s=86_400, max_chars_per_process=1_000)
    writer = start_writer(database, policy)
    write(writer, 1, [f"{number:010d}" for number in range(300)])  # 10 chars each, 3,000 in all
    write(writer, 2, ["small"])
    writer.ask(Flush(index_budget_s=None))

    wait_until(lambda: len(lines_of(reader, 1)) == 90, message="the trim down to 900 characters")
    assert lines_of(reader, 1) == [f"{number:010d}" for number in range(210, 300)]
    assert lines_of(reader, 2) == ["small"]
    fully_indexed(writer, database)


def test_lines_past_the_age_limit_are_deleted_at_housekeeping(
    database: Path, reader: apsw.Connection
) -> None:
    writer = start_writer(database, RetentionPolicy(max_age_s=3600, max_chars_per_process=1 << 30))
    write(writer, 1, ["ancient"] * 3, ts=NOW - 2 * 86_400)
    write(writer, 2, ["yesterday"], ts=NOW - 7200)
    write(writer, 1, ["recent"], ts=NOW)
    writer.ask(Flush(index_budget_s=None))

    writer.tell(Housekeeping())

    wait_until(lambda: lines_of(reader, 1) == ["recent"] and not lines_of(reader, 2), message="the age trim")
    fully_indexed(writer, database)


def test_a_cleared_database_gives_its_pages_back_to_the_file_system(
    database: Path, reader: apsw.Connection
) -> None:
    writer = start_writer(database)
    write(writer, 1, [f"{number} " + "padding " * 20 for number in range(20_000)])
    writer.ask(Flush(index_budget_s=None))
    writer.tell(Housekeeping())  # a checkpoint: the rows reach the main file
    wait_until(lambda: os.path.getsize(database) > 4_000_000, message="the lines in the main file")
    full_size = os.path.getsize(database)

    assert cleared(writer) == 20_000

    wait_until(lambda: os.path.getsize(database) < full_size / 4, message="the file to shrink")
