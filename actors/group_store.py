"""Groups in the database: the `groups` and `group_members` tables (schema step 4 in
`store.py`), written by the LogWriterActor inside its transactions and read back at start-up."""

from __future__ import annotations

import logging

import apsw
import msgspec

from pm_actors.definition import GroupDefinition, MemberDefinition
from pm_actors.specs import ReadyCondition, StopStrategy

logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE groups(
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    stop_strategy TEXT NOT NULL,
    updated_at REAL NOT NULL
);
-- A member names its process: names are unique and never change, and a deleted process leaves
-- its groups (a row whose process is gone is skipped when read back).
CREATE TABLE group_members(
    group_id INTEGER NOT NULL,
    position INTEGER NOT NULL,
    process_name TEXT NOT NULL,
    start_order INTEGER NOT NULL,
    ready BLOB NOT NULL,
    PRIMARY KEY (group_id, position)
);
"""


def save_group(connection: apsw.Connection, group: GroupDefinition, updated_at: float) -> None:
    """Store `group` under its name, replacing its members, inside the caller's transaction."""
    connection.execute(
        "INSERT INTO groups(name, stop_strategy, updated_at) VALUES(?, ?, ?) ON CONFLICT(name) DO UPDATE"
        " SET stop_strategy = excluded.stop_strategy, updated_at = excluded.updated_at",
        (group.name, group.stop_strategy, updated_at),
    )
    group_id = int(connection.execute("SELECT id FROM groups WHERE name = ?", (group.name,)).get)
    connection.execute("DELETE FROM group_members WHERE group_id = ?", (group_id,))
    connection.executemany(
        "INSERT INTO group_members(group_id, position, process_name, start_order, ready)"
        " VALUES(?, ?, ?, ?, ?)",
        [
            (group_id, position, member.name, member.order, msgspec.msgpack.encode(member.ready))
            for position, member in enumerate(group.members)
        ],
    )


def delete_group(connection: apsw.Connection, name: str) -> None:
    connection.execute(
        "DELETE FROM group_members WHERE group_id IN (SELECT id FROM groups WHERE name = ?)", (name,)
    )
    connection.execute("DELETE FROM groups WHERE name = ?", (name,))


def load_groups(connection: apsw.Connection) -> list[GroupDefinition]:
    """Every stored group with its members in the order they were listed, leaving out members
    whose process is no longer stored."""
    members: dict[int, list[MemberDefinition]] = {}
    rows = connection.execute(
        "SELECT group_id, process_name, start_order, ready FROM group_members"
        " WHERE process_name IN (SELECT name FROM processes) ORDER BY group_id, position"
    )
    for group_id, name, order, ready in rows:
        try:
            condition = msgspec.msgpack.decode(ready, type=ReadyCondition)
        except msgspec.DecodeError:
            # One unreadable row must not stop the daemon from starting with all the others.
            logger.exception(
                "stored readiness of %r in group %d is unreadable; member skipped", name, group_id
            )
            continue
        members.setdefault(group_id, []).append(MemberDefinition(name=name, order=order, ready=condition))
    groups = connection.execute("SELECT id, name, stop_strategy FROM groups ORDER BY id")
    return [
        GroupDefinition(
            name=name,
            stop_strategy=msgspec.convert(strategy, StopStrategy),
            members=members.get(group_id, []),
        )
        for group_id, name, strategy in groups
    ]
