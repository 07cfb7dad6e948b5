from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import apsw
import msgspec
import pytest

from pm_actors.actors.messages import Flush
from pm_actors.actors.store import (
    INCREMENTAL_AUTO_VACUUM,
    JOURNAL_SIZE_LIMIT_BYTES,
    MIGRATIONS,
    SCHEMA_VERSION,
    WAL_AUTOCHECKPOINT_PAGES,
    advance_sequence,
    indexed_up_to,
    load_stored_state,
    next_id,
    open_read_connection,
    open_write_connection,
    reserve_ids,
    schema_version,
)
from pm_actors.definition import ProcessDefinition
from pm_actors.errors import InternalError
from pm_actors.specs import ReadyCondition
from tests.log_store_support import check_index_matches_rows, start_writer


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
    assert {"processes", "runs", "logs", "logs_fts", "id_sequences"} <= names_of(writer, "table")
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
    assert writer.execute("PRAGMA auto_vacuum").get == INCREMENTAL_AUTO_VACUUM


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

    assert [next_id(writer, sequence) for sequence in ("processes", "runs", "logs")] == [1, 1, 1]
    assert state.definitions == [] and state.open_runs == [] and state.last_runs == {}


def test_an_id_is_never_handed_out_twice_whatever_was_deleted_and_however_often_reopened(
    database: Path,
) -> None:
    handed_out: list[int] = []
    for _ in range(3):
        connection = open_write_connection(database)
        try:
            first = reserve_ids(connection, "runs", 10)
            handed_out += range(first, first + 10)
            add_process(connection, 1, "web")
            for run_id in range(first, first + 10):
                add_run(connection, run_id, process_id=1)
            # Everything that refers to the ids goes: nothing is left to take a maximum of.
            connection.execute("DELETE FROM runs")
            connection.execute("DELETE FROM processes")
        finally:
            connection.close()

    assert len(handed_out) == len(set(handed_out)) == 30


def test_a_sequence_never_goes_back(writer: apsw.Connection) -> None:
    advance_sequence(writer, "logs", 50)
    advance_sequence(writer, "logs", 20)

    assert next_id(writer, "logs") == 50


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


def old_database(path: Path, version: int) -> apsw.Connection:
    """A database as pm-actors left it at schema `version` (3 to 5; auto_vacuum off, as it was then)."""
    old = apsw.Connection(str(path))
    with old:
        for migration in MIGRATIONS[:version]:
            migration(old)
        old.execute(f"PRAGMA user_version = {version}")
    return old


@pytest.mark.parametrize("version", [3, 4])
def test_version_5_repairs_a_database_whose_ids_were_handed_out_again(short_tmp: Path, version: int) -> None:
    """The defect of version 3: lines deleted above the high-water mark, so that new lines got
    ids the index still held entries for, under other text."""
    path = short_tmp / "old.db"
    old = old_database(path, version)
    with old:
        add_process(old, 1, "web")
        add_run(old, 3, process_id=1)
        old.execute(
            "INSERT INTO logs(id, process_id, run_id, stream, ts, line) VALUES"
            " (5, 1, 3, 0, 0, 'new line'), (6, 1, 9, 0, 0, ?)",
            ("\x1b[1;31mred\x1b[0m alert",),
        )
        # Entries of lines long deleted, some under ids the rows above reuse with other text.
        old.execute("INSERT INTO logs_fts(rowid, line) VALUES (5, 'deleted text'), (2000, 'gone')")
        old.execute("UPDATE fts_progress SET indexed_up_to = 2000")
        old.execute("INSERT INTO health_checks VALUES (1, 7, 12, 0, 1, 'ok', 1.0)")
    old.close()

    connection = open_write_connection(path)
    try:
        sequences = [next_id(connection, sequence) for sequence in ("processes", "runs", "logs")]
        fts_rows = connection.execute(
            "SELECT count(*) FROM logs_fts WHERE logs_fts MATCH 'deleted OR gone'"
        ).get
        assert (schema_version(connection), indexed_up_to(connection), fts_rows) == (SCHEMA_VERSION, 0, 0)
        assert sequences == [8, 13, 2001]  # above every id still referred to, and the mark
        assert connection.execute("SELECT line FROM logs WHERE id = 6").get == "red alert"
        assert connection.execute("PRAGMA auto_vacuum").get == INCREMENTAL_AUTO_VACUUM
    finally:
        connection.close()
    writer = start_writer(path)  # re-indexes every line from the start
    writer.ask(Flush(index_budget_s=None))
    check_index_matches_rows(path)
    writer.stop(block=True)


def test_version_5_keeps_the_groups_of_a_version_4_database(short_tmp: Path) -> None:
    path = short_tmp / "old.db"
    old = old_database(path, 4)
    with old:
        add_process(old, 3, "db")
        old.execute("INSERT INTO groups VALUES (1, 'stack', 'reverse', 0)")
        old.execute(
            "INSERT INTO group_members VALUES (1, 0, 'db', 0, ?)",
            (msgspec.msgpack.encode(ReadyCondition(until="port", port=5432)),),
        )
    old.close()

    connection = open_write_connection(path)
    try:
        state = load_stored_state(connection)
        assert schema_version(connection) == SCHEMA_VERSION
        assert [(group.name, [member.name for member in group.members]) for group in state.groups] == [
            ("stack", ["db"])
        ]
        assert next_id(connection, "processes") == 4
    finally:
        connection.close()


def test_version_6_tracks_errors_from_the_lines_after_the_upgrade_on(short_tmp: Path) -> None:
    """Lines stored before the upgrade are not classified (a history of unknown size would all
    be looked at once); the runs that had ended count as concluded, an open one does not."""
    path = short_tmp / "old.db"
    old = old_database(path, 5)
    with old:
        add_process(old, 1, "web")
        add_run(old, 1, process_id=1, exit_code=1)
        add_run(old, 2, process_id=1, exit_code=None)
        add_line(old, 7, process_id=1)
    old.close()

    connection = open_write_connection(path)
    try:
        assert schema_version(connection) == SCHEMA_VERSION
        assert connection.execute("SELECT classified_up_to FROM incident_progress").get == 7
        checked = connection.execute("SELECT id, errors_checked FROM runs ORDER BY id").fetchall()
        assert checked == [(1, 1), (2, None)]
        assert connection.execute("SELECT count(*) FROM incidents").get == 0
    finally:
        connection.close()


def test_version_7_keeps_runs_and_knows_no_supervision_of_the_runs_before_it(short_tmp: Path) -> None:
    """Runs that ended before the upgrade show their end as before: nothing was due for them."""
    path = short_tmp / "old.db"
    old = old_database(path, 6)
    with old:
        add_process(old, 1, "web")
        add_run(old, 1, process_id=1, exit_code=1)
    old.close()

    connection = open_write_connection(path)
    try:
        assert schema_version(connection) == SCHEMA_VERSION == 7
        runs = connection.execute("SELECT id, exit_code, supervision FROM runs").fetchall()
        assert runs == [(1, 1, None)]
    finally:
        connection.close()
