"""The SQL of the LogWriterActor: each function runs inside the caller's transaction.

The external-content index (`logs_fts`) holds each line and its identifier parts. It must be
told exactly what it indexed when a row goes: a row's index entries are deleted with the very
`line` and `parts` stored in the row, before the row itself, and only for rows at or below the
high-water mark (the rows above it were never indexed).
"""

from __future__ import annotations

import logging
from itertools import count, repeat

import apsw
import msgspec

from pm_actors.actors.incidents import store as incidents
from pm_actors.actors.log_text import identifier_parts
from pm_actors.actors.messages import (
    RecordHealthCheck,
    RecordRunEnd,
    RecordRunStart,
    RecordSupervision,
    SaveDefinition,
)
from pm_actors.actors.store import advance_sequence

logger = logging.getLogger(__name__)

StoredChunk = tuple[int, int, int, int, float, list[str]]
"""(first id, process_id, run_id, stream, ts, lines): consecutive rows of the logs table that
differ only in id (one more each) and line."""

BULK_MIN_LINES = 8
"""A chunk this long goes in as one statement reading a JSON array of its lines (json_each, in
C: about twice the rows per second of executemany, which binds each row from Python); a
shorter one joins the others' executemany, cheaper for a line or two."""
CASE_CHANGE_GLOB = "line GLOB '*[a-z][A-Z]*' OR line GLOB '*[A-Z][A-Z][a-z]*'"
"""The lines `log_text.CASE_CHANGE` matches, found by SQLite in C: only those can have
identifier parts, so only those (a few in a hundred, in most output) are read into Python."""
INSERT_ROW = "INSERT INTO logs(id, process_id, run_id, stream, ts, line) VALUES(?, ?, ?, ?, ?, ?)"
INSERT_CHUNK = (
    "INSERT INTO logs(id, process_id, run_id, stream, ts, line)"
    " SELECT ?1 + key, ?2, ?3, ?4, ?5, value FROM json_each(?6)"
)

LineUsage = tuple[int, int]
"""(lines, characters) of text stored for one process."""

HEALTH_HISTORY_PER_PROCESS = 1000
"""Health checks kept per process (the newest): hours of history at typical intervals, and a
bound on the table however long a process runs."""


def insert_lines(connection: apsw.Connection, chunks: list[StoredChunk]) -> None:
    """Store lines whose ids the writer handed out, and move the line sequence past them in the
    same transaction: no id is handed out again after a restart, whatever is deleted later.
    The lines are clean (no control character, so none the JSON text would have to carry)."""
    if not chunks:
        return
    rows: list[tuple[int, int, int, int, float, str]] = []
    for first_id, process_id, run_id, stream, ts, lines in chunks:
        if len(lines) >= BULK_MIN_LINES:
            encoded = msgspec.json.encode(lines).decode()  # text: SQLite would read a blob as JSONB
            connection.execute(INSERT_CHUNK, (first_id, process_id, run_id, stream, ts, encoded))
        else:
            rows.extend(
                zip(count(first_id), repeat(process_id), repeat(run_id), repeat(stream), repeat(ts), lines)
            )
    if rows:
        connection.executemany(INSERT_ROW, rows)
    first_id, *_, lines = chunks[-1]
    advance_sequence(connection, "logs", first_id + len(lines))


def index_lines(connection: apsw.Connection, after_id: int, up_to_id: int) -> None:
    """Index the lines with ids in (after_id, up_to_id]: each line, and beside it the parts of
    its identifiers, which are stored in the row first so that a delete can repeat them."""
    rows = connection.execute(
        f"SELECT id, line FROM logs WHERE id > ? AND id <= ? AND ({CASE_CHANGE_GLOB})", (after_id, up_to_id)
    )
    parts = [(text, line_id) for line_id, line in rows if (text := identifier_parts(line)) is not None]
    connection.executemany("UPDATE logs SET parts = ? WHERE id = ?", parts)
    connection.execute(
        "INSERT INTO logs_fts(rowid, line, parts) SELECT id, line, parts FROM logs WHERE id > ? AND id <= ?",
        (after_id, up_to_id),
    )


def delete_lines(
    connection: apsw.Connection, where: str, args: tuple[object, ...], indexed_up_to: int
) -> dict[int, LineUsage]:
    """Delete the rows matching `where` and their index entries; returns what went, by process."""
    removed = {
        process_id: (lines, chars)
        for process_id, lines, chars in connection.execute(
            f"SELECT process_id, count(*), sum(length(line)) FROM logs WHERE {where} GROUP BY process_id",
            args,
        )
    }
    connection.execute(
        "INSERT INTO logs_fts(logs_fts, rowid, line, parts)"
        f" SELECT 'delete', id, line, parts FROM logs WHERE {where} AND id <= ?",
        (*args, indexed_up_to),
    )
    connection.execute(f"DELETE FROM logs WHERE {where}", args)
    return removed


def delete_every_line(connection: apsw.Connection) -> None:
    """Empty the logs table and its index at once (clear_logs of everything)."""
    connection.execute("INSERT INTO logs_fts(logs_fts) VALUES('delete-all')")
    connection.execute("DELETE FROM logs")  # without WHERE: SQLite drops the pages wholesale


def stored_usage(connection: apsw.Connection) -> dict[int, LineUsage]:
    """Lines and characters stored, by process: what the size limit is checked against."""
    rows = connection.execute("SELECT process_id, count(*), sum(length(line)) FROM logs GROUP BY process_id")
    return {process_id: (lines, chars) for process_id, lines, chars in rows}


def save_definition(connection: apsw.Connection, message: SaveDefinition) -> None:
    name = message.definition.name
    # A name is held by one process only. Another id holding it is the leftover of a delete
    # that failed: the supervisor gave the name a new id, so the old row must give way.
    connection.execute("DELETE FROM processes WHERE name = ? AND id != ?", (name, message.process_id))
    if connection.changes():
        logger.warning("the stored definition of %r under an older id was replaced", name)
    # Upsert by id: a process keeps its id (and so its runs and lines) when its definition changes.
    connection.execute(
        "INSERT INTO processes(id, name, definition, updated_at) VALUES(?, ?, ?, ?)"
        " ON CONFLICT(id) DO UPDATE SET"
        " name = excluded.name, definition = excluded.definition, updated_at = excluded.updated_at",
        (message.process_id, name, msgspec.msgpack.encode(message.definition), message.updated_at),
    )


def delete_process_rows(connection: apsw.Connection, process_id: int) -> None:
    """A deleted process's definition, runs, health checks and errors; its lines go in chunks after."""
    for table, column in (("runs", "process_id"), ("health_checks", "process_id"), ("processes", "id")):
        connection.execute(f"DELETE FROM {table} WHERE {column} = ?", (process_id,))
    incidents.delete_process(connection, process_id)


def record_run_start(connection: apsw.Connection, message: RecordRunStart) -> None:
    connection.execute(
        "INSERT INTO runs(id, process_id, pid, started_at, requested_by) VALUES(?, ?, ?, ?, ?)",
        (message.run_id, message.process_id, message.pid, message.started_at, message.requested_by),
    )


def record_run_end(connection: apsw.Connection, message: RecordRunEnd) -> None:
    connection.execute(
        "UPDATE runs SET ended_at = ?, exit_code = ?, exit_signal = ?, end_reason = ?, end_state = ?"
        " WHERE id = ?",
        (
            message.ended_at,
            message.exit_code,
            message.exit_signal,
            message.end_reason,
            message.end_state,
            message.run_id,
        ),
    )
    if connection.changes() == 0:
        logger.warning("run %d ended but was never recorded as started", message.run_id)


def record_supervision(connection: apsw.Connection, message: RecordSupervision) -> None:
    """Given up (fatal) replaces the run's end reason, as the process record shows it."""
    connection.execute(
        "UPDATE runs SET supervision = ?, end_reason = iif(? = 'fatal', ?, end_reason) WHERE id = ?",
        (message.decision, message.decision, message.reason, message.run_id),
    )


def record_health_check(connection: apsw.Connection, message: RecordHealthCheck) -> None:
    connection.execute(
        "INSERT INTO health_checks(process_id, run_id, checked_at, healthy, detail, duration_ms)"
        " VALUES(?, ?, ?, ?, ?, ?)",
        (
            message.process_id,
            message.run_id,
            message.checked_at,
            message.healthy,
            message.detail,
            message.duration_ms,
        ),
    )
    # Keep the newest rows only: the subquery walks the (process_id, id) index from the newest
    # to the first row past the limit (NULL, so nothing is deleted, while there are fewer).
    connection.execute(
        "DELETE FROM health_checks WHERE process_id = ?1 AND id <= ("
        "SELECT id FROM health_checks WHERE process_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
        (message.process_id, HEALTH_HISTORY_PER_PROCESS),
    )
