from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import apsw
import msgspec
import pytest

from pm_actors.actors.store import (
    JOURNAL_SIZE_LIMIT_BYTES,
    MIGRATIONS,
    SCHEMA_VERSION,
    WAL_AUTOCHECKPOINT_PAGES,
    indexed_up_to,
    load_stored_state,
    open_read_connection,
    open_write_connection,
    schema_version,
)
from pm_actors.definition import ProcessDefinition
from pm_actors.errors import InternalError


@pytest.fixture
def database(short_tmp: Path) -> Path:
    return short_tmp / "data" / "pm.db"


@pytest.fixture
def writer(database: Path) -> Iterator[apsw.Connection]:
    connection = open_write_connection(database)
    yield connection
    connection.close()


def definition(name: str) -> ProcessDefinition:
    return ProcessDefinition(name=name, command="python", executable="/usr/bin/python3", args=["-V"], cwd="/")


def names_of(connection: apsw.Connection, kind: str) -> set[str]:
    rows = connection.execute("SELECT name FROM sqlite_schema WHERE type = ?", (kind,))
    return {name for (name,) in rows}


def add_process(connection: apsw.Connection, process_id: int, name: str) -> None:
    connection.execute(
        "INSERT INTO processes(id, name, definition, updated_at) VALUES(?, ?, ?, 0)",
        (process_id, name, msgspec.msgpack.encode(definition(name))),
    )


def add_run(
    connection: apsw.Connection,
    run_id: int,
    process_id: int,
    exit_code: int | None = 0,
    requested_by: str = "start_process",
) -> None:
    ended_at = None if exit_code is None else 20.0 + run_id
    connection.execute(
        "INSERT INTO runs(id, process_id, pid, started_at, ended_at, exit_code, end_reason, requested_by)"
        " VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
        (
            run_id,
            process_id,
            1000 + run_id,
            10.0 + run_id,
            ended_at,
            exit_code,
            "exited" if ended_at else None,
            requested_by,
        ),
    )


def add_line(connection: apsw.Connection, line_id: int, process_id: int) -> None:
    connection.execute(
        "INSERT INTO logs(id, process_id, run_id, stream, ts, line) VALUES(?, ?, 1, 0, 0, 'x')",
        (line_id, process_id),
    )


def test_migration_creates_every_table_and_index_and_records_the_schema_version(
    writer: apsw.Connection,
) -> None:
    assert {"processes", "runs", "logs", "logs_fts"} <= names_of(writer, "table")
    assert {"runs_by_process", "logs_by_process"} <= names_of(writer, "index")
    assert names_of(writer, "trigger") == set()
    assert schema_version(writer) == SCHEMA_VERSION


def test_reopening_a_migrated_database_keeps_its_schema_version_and_its_rows(database: Path) -> None:
    first = open_write_connection(database)
    add_process(first, 1, "web")
    first.close()

    second = open_write_connection(database)
    try:
        assert schema_version(second) == SCHEMA_VERSION
        assert second.execute("SELECT count(*) FROM processes").get == 1
    finally:
        second.close()


def test_a_database_from_a_newer_version_is_refused_with_an_explanation(database: Path) -> None:
    connection = open_write_connection(database)
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.close()

    with pytest.raises(InternalError, match="newer than this pm-actors"):
        open_write_connection(database)


def test_the_write_connection_uses_wal_normal_sync_and_a_busy_timeout(writer: apsw.Connection) -> None:
    assert writer.execute("PRAGMA journal_mode").get == "wal"
    assert writer.execute("PRAGMA synchronous").get == 1  # NORMAL
    assert writer.execute("PRAGMA busy_timeout").get == 5000
    assert writer.execute("PRAGMA foreign_keys").get == 0
    assert writer.execute("PRAGMA journal_size_limit").get == JOURNAL_SIZE_LIMIT_BYTES
    assert writer.execute("PRAGMA wal_autocheckpoint").get == WAL_AUTOCHECKPOINT_PAGES


def test_a_missing_database_folder_is_created_private_to_its_owner(
    writer: apsw.Connection, database: Path
) -> None:
    assert stat.S_IMODE(database.parent.stat().st_mode) == 0o700


def test_a_read_connection_sees_committed_rows_but_cannot_write(
    writer: apsw.Connection, database: Path
) -> None:
    add_process(writer, 1, "web")
    reader = open_read_connection(database)
    try:
        assert reader.execute("SELECT name FROM processes").get == "web"
        with pytest.raises(apsw.ReadOnlyError):
            reader.execute("DELETE FROM processes")
    finally:
        reader.close()


def test_an_empty_database_hands_out_ids_from_one(writer: apsw.Connection) -> None:
    state = load_stored_state(writer)

    assert (state.next_process_id, state.next_run_id, state.next_log_id) == (1, 1, 1)
    assert state.definitions == [] and state.open_runs == [] and state.last_runs == {}


def test_ids_continue_after_the_largest_stored_ones_when_the_database_is_reopened(database: Path) -> None:
    connection = open_write_connection(database)
    add_process(connection, 3, "web")
    add_run(connection, 7, process_id=3)
    add_line(connection, 41, process_id=3)
    add_line(connection, 42, process_id=5)  # a line of a process whose definition is gone
    connection.close()

    reopened = open_write_connection(database)
    try:
        state = load_stored_state(reopened)
    finally:
        reopened.close()

    assert (state.next_process_id, state.next_run_id, state.next_log_id) == (6, 8, 43)


def test_stored_state_gives_each_definition_its_latest_run_and_restart_count(writer: apsw.Connection) -> None:
    add_process(writer, 1, "web")
    add_process(writer, 2, "worker")
    add_run(writer, 1, process_id=1, exit_code=0)
    add_run(writer, 2, process_id=2, exit_code=3)
    add_run(writer, 3, process_id=1, exit_code=1, requested_by="automatic restart")

    state = load_stored_state(writer)

    assert [(stored.process_id, stored.definition) for stored in state.definitions] == [
        (1, definition("web")),
        (2, definition("worker")),
    ]
    assert state.last_runs[1].run_id == 3 and state.last_runs[1].exit_code == 1
    assert state.last_runs[2].pid == 1002 and state.last_runs[2].end_reason == "exited"
    assert state.restart_counts == {1: 1}


def test_the_restart_count_starts_again_at_each_start_process(writer: apsw.Connection) -> None:
    add_process(writer, 1, "web")
    add_run(writer, 1, process_id=1, exit_code=1)
    add_run(writer, 2, process_id=1, exit_code=1, requested_by="automatic restart")
    add_run(writer, 3, process_id=1, exit_code=1, requested_by="restart_process")
    add_run(writer, 4, process_id=1, exit_code=1, requested_by="start_process")
    add_run(writer, 5, process_id=1, exit_code=1, requested_by="automatic restart")
    add_process(writer, 2, "worker")
    add_run(writer, 6, process_id=2, exit_code=1, requested_by="automatic restart")
    add_run(writer, 7, process_id=2, exit_code=1, requested_by="restart_process")

    assert load_stored_state(writer).restart_counts == {1: 1, 2: 2}


def test_runs_a_dead_daemon_left_open_are_reported(writer: apsw.Connection) -> None:
    add_process(writer, 1, "web")
    add_run(writer, 1, process_id=1, exit_code=0)
    add_run(writer, 2, process_id=1, exit_code=None)

    state = load_stored_state(writer)

    assert [(run.run_id, run.pid, run.ended_at) for run in state.open_runs] == [(2, 1002, None)]


def test_an_unreadable_definition_is_skipped_and_the_others_still_load(writer: apsw.Connection) -> None:
    add_process(writer, 1, "web")
    writer.execute("INSERT INTO processes(id, name, definition, updated_at) VALUES(2, 'bad', x'c1', 0)")

    state = load_stored_state(writer)

    assert [stored.definition.name for stored in state.definitions] == ["web"]
    assert state.next_process_id == 3


def test_the_database_file_and_its_wal_are_private(short_tmp: Path) -> None:
    path = short_tmp / "data" / "pm.db"
    connection = open_write_connection(path)
    try:
        connection.execute("INSERT INTO runs(id, process_id, started_at) VALUES (1, 1, 0)")
        modes = {
            name: stat.S_IMODE(os.stat(short_tmp / "data" / name).st_mode) for name in ("pm.db", "pm.db-wal")
        }
    finally:
        connection.close()
    assert modes == {"pm.db": 0o600, "pm.db-wal": 0o600}
    assert stat.S_IMODE(os.stat(short_tmp / "data").st_mode) == 0o700


def test_lines_stored_before_version_3_count_as_indexed(short_tmp: Path) -> None:
    path = short_tmp / "old.db"
    old = apsw.Connection(str(path))
    with old:
        for migration in MIGRATIONS[:2]:
            migration(old)
        old.execute(
            "INSERT INTO logs(id, process_id, run_id, stream, ts, line) VALUES (41, 1, 1, 0, 0, 'old')"
        )
        old.execute("INSERT INTO logs_fts(rowid, line) VALUES (41, 'old')")
        old.execute("PRAGMA user_version = 2")
    old.close()
    connection = open_write_connection(path)
    try:
        assert (schema_version(connection), indexed_up_to(connection)) == (SCHEMA_VERSION, 41)
    finally:
        connection.close()
