"""Groups in a real SQLite file: schema step 4, written by the LogWriterActor, read back at start."""

from __future__ import annotations

from pathlib import Path

import apsw
import msgspec
import pykka
import pytest

from pm_actors.actors.log_writer import LogWriterActor
from pm_actors.actors.messages import DeleteGroupData, Flush, SaveGroup
from pm_actors.actors.store import (
    MIGRATIONS,
    SCHEMA_VERSION,
    load_stored_state,
    open_write_connection,
    schema_version,
)
from pm_actors.definition import GroupDefinition, MemberDefinition, ProcessDefinition
from pm_actors.specs import RUNNING, ReadyCondition
from tests.log_store_support import start_writer

STACK = GroupDefinition(
    name="stack",
    stop_strategy="sequential",
    members=[
        MemberDefinition(name="db", order=0, ready=ReadyCondition(until="port", port=5432, timeout_s=5)),
        MemberDefinition(name="web", order=2, ready=ReadyCondition(until="log_line", pattern="up")),
        MemberDefinition(name="api", order=1, ready=RUNNING),
    ],
)


def add_process(connection: apsw.Connection, process_id: int, name: str) -> None:
    definition = ProcessDefinition(
        name=name, command="python3", executable="/usr/bin/python3", args=[], cwd="/"
    )
    connection.execute(
        "INSERT INTO processes(id, name, definition, updated_at) VALUES(?, ?, ?, 0)",
        (process_id, name, msgspec.msgpack.encode(definition)),
    )


def store_processes(database: Path, *names: str) -> None:
    """Definitions of these processes in the file, as a daemon would have left them."""
    connection = open_write_connection(database)
    try:
        for process_id, name in enumerate(names, start=1):
            add_process(connection, process_id, name)
    finally:
        connection.close()


@pytest.fixture
def writer(database: Path) -> pykka.ActorRef[LogWriterActor]:
    return start_writer(database)


def stored_groups(database: Path) -> list[GroupDefinition]:
    connection = open_write_connection(database)
    try:
        return load_stored_state(connection).groups
    finally:
        connection.close()


def write(writer: pykka.ActorRef[LogWriterActor], *messages: object) -> None:
    for message in messages:
        writer.tell(message)
    writer.ask(Flush(), timeout=10)


@pytest.mark.timeout(10)
def test_a_version_3_database_gains_the_group_tables_and_keeps_its_rows(short_tmp: Path) -> None:
    path = short_tmp / "old.db"
    old = apsw.Connection(str(path))
    with old:
        for migration in MIGRATIONS[:3]:
            migration(old)
        add_process(old, 1, "web")
        old.execute("PRAGMA user_version = 3")
    old.close()
    connection = open_write_connection(path)
    try:
        tables = {
            name for (name,) in connection.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")
        }
        assert {"groups", "group_members"} <= tables
        assert schema_version(connection) == SCHEMA_VERSION
        assert connection.execute("SELECT name FROM processes").get == "web"
    finally:
        connection.close()


@pytest.mark.timeout(10)
def test_a_saved_group_is_read_back_with_its_members_in_listing_order(
    database: Path, writer: pykka.ActorRef[LogWriterActor]
) -> None:
    store_processes(database, "db", "web", "api")

    write(writer, SaveGroup(STACK, 1.0), SaveGroup(GroupDefinition(name="empty"), 2.0))

    assert stored_groups(database) == [STACK, GroupDefinition(name="empty")]


@pytest.mark.timeout(10)
def test_saving_again_replaces_the_members_and_deleting_removes_the_group(
    database: Path, writer: pykka.ActorRef[LogWriterActor]
) -> None:
    store_processes(database, "db", "web", "api")
    fewer = msgspec.structs.replace(STACK, stop_strategy="parallel", members=STACK.members[:1])

    write(writer, SaveGroup(STACK, 1.0), SaveGroup(fewer, 2.0))
    assert stored_groups(database) == [fewer]

    write(writer, DeleteGroupData("stack"))
    assert stored_groups(database) == []
    connection = open_write_connection(database)
    try:
        assert connection.execute("SELECT count(*) FROM group_members").get == 0
    finally:
        connection.close()


@pytest.mark.timeout(10)
def test_a_member_whose_process_is_no_longer_stored_is_left_out(
    database: Path, writer: pykka.ActorRef[LogWriterActor]
) -> None:
    store_processes(database, "db", "api")

    write(writer, SaveGroup(STACK, 1.0))

    assert [member.name for member in stored_groups(database)[0].members] == ["db", "api"]
