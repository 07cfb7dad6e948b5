"""Opening the SQLite database, migrating its schema, and reading back what a daemon left.

One file holds process definitions, runs, output lines with their FTS5 index, each process's
recent health checks, groups with their members, and the id sequences. The LogWriterActor owns
the only write connection (SQLite has one writer); readers open their own read-only
connections, which WAL lets run beside the writer without blocking it.

Ids (processes, runs, lines) come from `id_sequences` and are never handed out twice, whatever
was deleted: a sequence only grows, and is always above every id stored or shown.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import apsw
import msgspec

from pm_actors.actors import group_store
from pm_actors.actors.incidents import store as incidents_store
from pm_actors.actors.log_text import clean_line
from pm_actors.actors.messages import SequenceName
from pm_actors.definition import GroupDefinition, ProcessDefinition
from pm_actors.errors import InternalError

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
"""How long a statement waits for a lock (a checkpoint, a second opener) before failing."""
WAL_AUTOCHECKPOINT_PAGES = 4000
"""~16 MB of WAL between checkpoints: fewer checkpoint stalls during a burst than the default 1000."""
JOURNAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024
"""A burst can grow the WAL; after a checkpoint it is truncated back to at most this size."""
INCREMENTAL_AUTO_VACUUM = 2
"""`PRAGMA auto_vacuum` value under which `PRAGMA incremental_vacuum` gives free pages back to
the file system, so that a database trimmed by retention or clear_logs shrinks on disk."""


_SCHEMA_V1 = """
CREATE TABLE processes(
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    definition BLOB NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE runs(
    id INTEGER PRIMARY KEY,
    process_id INTEGER NOT NULL,
    pid INTEGER,
    started_at REAL NOT NULL,
    ended_at REAL,
    exit_code INTEGER,
    exit_signal TEXT,
    end_reason TEXT,
    end_state TEXT,
    requested_by TEXT
);
CREATE INDEX runs_by_process ON runs(process_id, id);
CREATE TABLE logs(
    id INTEGER PRIMARY KEY,
    process_id INTEGER NOT NULL,
    run_id INTEGER NOT NULL,
    stream INTEGER NOT NULL,
    ts REAL NOT NULL,
    line TEXT NOT NULL
);
CREATE INDEX logs_by_process ON logs(process_id, id);
-- External content, filled by the writer explicitly: a trigger would cost about 3x per line.
CREATE VIRTUAL TABLE logs_fts USING fts5(
    line, content='logs', content_rowid='id', tokenize='unicode61'
);
"""

_SCHEMA_V2 = """
CREATE TABLE health_checks(
    id INTEGER PRIMARY KEY,
    process_id INTEGER NOT NULL,
    run_id INTEGER NOT NULL,
    checked_at REAL NOT NULL,
    healthy INTEGER NOT NULL,
    detail TEXT NOT NULL,
    duration_ms REAL NOT NULL
);
-- Serves both a process's newest checks and the trim to the newest N after each insert.
CREATE INDEX health_checks_by_process ON health_checks(process_id, id);
"""

Migration = Callable[[apsw.Connection], None]


def _script(sql: str) -> Migration:
    def apply(connection: apsw.Connection) -> None:
        connection.execute(sql)

    return apply


_SCHEMA_V3 = """
-- The full-text index trails the stored lines: the writer indexes id ranges behind this mark
-- when it is idle, so a burst is stored at plain-insert speed.
CREATE TABLE fts_progress(
    id INTEGER PRIMARY KEY CHECK (id = 1),
    indexed_up_to INTEGER NOT NULL
);
-- Lines stored before version 3 were indexed in the transaction that stored them.
INSERT INTO fts_progress(id, indexed_up_to) SELECT 1, coalesce(max(id), 0) FROM logs;
"""

_SCHEMA_V5 = """
-- Ids are never handed out twice, whatever was deleted: each sequence starts above every id
-- any table still holds, and above the index's high-water mark (the trace of deleted lines).
CREATE TABLE id_sequences(name TEXT PRIMARY KEY, next_id INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO id_sequences(name, next_id) SELECT 'processes', 1 + max(
    coalesce((SELECT max(id) FROM processes), 0), coalesce((SELECT max(process_id) FROM runs), 0),
    coalesce((SELECT max(process_id) FROM logs), 0),
    coalesce((SELECT max(process_id) FROM health_checks), 0));
INSERT INTO id_sequences(name, next_id) SELECT 'runs', 1 + max(coalesce((SELECT max(id) FROM runs), 0),
    coalesce((SELECT max(run_id) FROM logs), 0), coalesce((SELECT max(run_id) FROM health_checks), 0));
INSERT INTO id_sequences(name, next_id) SELECT 'logs', 1 + max(coalesce((SELECT max(id) FROM logs), 0),
    (SELECT indexed_up_to FROM fts_progress));
-- The parts of identifiers that change case (ConnectionRefusedError -> Connection Refused
-- Error), filled when a line is indexed: indexed beside the line, found by a words search.
ALTER TABLE logs ADD COLUMN parts TEXT;
-- The index of versions 3 and 4 may hold entries of lines deleted and ids handed out again: it is
-- rebuilt from the rows, by the writer when idle, beginning at the first line.
DROP TABLE logs_fts;
CREATE VIRTUAL TABLE logs_fts USING fts5(
    line, parts, content='logs', content_rowid='id', tokenize='unicode61', columnsize=0
);
UPDATE fts_progress SET indexed_up_to = 0;
"""

_CONTROL_CODES = ",".join(str(code) for code in (*range(1, 9), *range(11, 32), 127))
_UNCLEAN_LINE = f"line GLOB '*[' || char({_CONTROL_CODES}) || ']*'"
"""A line holding a control character (an ANSI escape begins with ESC, 27): stored before
version 5, which stores lines clean."""


def _migrate_to_v5(connection: apsw.Connection) -> None:
    connection.execute(_SCHEMA_V5)
    rows = connection.execute(f"SELECT id, line FROM logs WHERE {_UNCLEAN_LINE}").fetchall()
    cleaned = [(clean_line(str(line)), line_id) for line_id, line in rows]
    connection.executemany("UPDATE logs SET line = ? WHERE id = ?", cleaned)


_SCHEMA_V7 = """
-- What supervision made of a run's end (backoff, fatal, stopped): the next daemon carries on.
ALTER TABLE runs ADD COLUMN supervision TEXT;
"""

MIGRATIONS: tuple[Migration, ...] = (
    _script(_SCHEMA_V1),
    _script(_SCHEMA_V2),
    _script(_SCHEMA_V3),
    _script(group_store.SCHEMA),
    _migrate_to_v5,
    _script(incidents_store.SCHEMA),
    _script(_SCHEMA_V7),
)
"""Step i takes the schema from version i to i + 1; append, never edit a released step."""
SCHEMA_VERSION = len(MIGRATIONS)


def indexed_up_to(connection: apsw.Connection) -> int:
    """The id of the last line in the full-text index: every line up to it is searchable."""
    return int(connection.execute("SELECT indexed_up_to FROM fts_progress").get)


class StoredRun(msgspec.Struct, frozen=True, kw_only=True):
    run_id: int
    process_id: int
    pid: int | None
    started_at: float
    ended_at: float | None
    exit_code: int | None
    exit_signal: str | None
    end_reason: str | None
    end_state: str | None
    requested_by: str | None
    crash_phrase: str | None
    incident_id: int | None
    errors_checked: int | None
    """1 once the run's end is concluded (its lines classified, a crash linked)."""
    supervision: str | None
    """After the run ended: `backoff` (a restart was due), `fatal` (restarting was given up) or
    `stopped` (a client stopped it while a restart was due)."""


class StoredDefinition(msgspec.Struct, frozen=True, kw_only=True):
    process_id: int
    definition: ProcessDefinition


class StoredState(msgspec.Struct, frozen=True, kw_only=True):
    """What a starting daemon needs from the database to carry on where the last one stopped."""

    definitions: list[StoredDefinition]
    last_runs: dict[int, StoredRun]
    """The latest run of each process that has run, by process id."""
    restart_counts: dict[int, int]
    """How many runs each process that has run has had, by process id."""
    open_runs: list[StoredRun]
    """Runs never closed: a daemon died under them. Their process groups may still be alive."""
    groups: list[GroupDefinition]


FTS_AUTOMERGE = 8
"""Index segments of a level merged at once (FTS5's default is 4): each line is rewritten
fewer times as segments merge, so indexing goes ~30% faster, while a search still reads only
a few segments a level."""


def open_write_connection(path: Path) -> apsw.Connection:
    """Open (creating if needed) the database for the one writer, and bring its schema up to date."""
    _create_private_folder(path.parent)
    # Captured output may hold secrets: the file is private (SQLite gives -wal and -shm its mode).
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    connection = apsw.Connection(str(path))
    try:
        connection.set_busy_timeout(BUSY_TIMEOUT_MS)
        if (
            schema_version(connection) == 0
        ):  # a new file: set before WAL and the first table, no VACUUM needed
            connection.execute(f"PRAGMA auto_vacuum = {INCREMENTAL_AUTO_VACUUM}")
        _apply_write_pragmas(connection, path)
        migrate(connection)
        connection.execute("INSERT INTO logs_fts(logs_fts, rank) VALUES('automerge', ?)", (FTS_AUTOMERGE,))
    except BaseException:
        connection.close()
        raise
    return connection


def open_read_connection(path: Path) -> apsw.Connection:
    """Open the database read-only; WAL lets this run beside the writer without blocking it."""
    connection = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    connection.set_busy_timeout(BUSY_TIMEOUT_MS)
    return connection


def schema_version(connection: apsw.Connection) -> int:
    return _scalar(connection, "PRAGMA user_version")


def migrate(connection: apsw.Connection) -> None:
    """Apply every migration step the database lacks, each in its own transaction, then make
    sure free pages can be given back (`auto_vacuum`), which an older file needs a VACUUM for."""
    current = schema_version(connection)
    if current > SCHEMA_VERSION:
        raise InternalError(
            f"the database has schema version {current}, newer than this pm-actors knows "
            f"({SCHEMA_VERSION}): upgrade pm-actors or set PM_DATABASE_PATH to another file"
        )
    for version in range(current + 1, SCHEMA_VERSION + 1):
        with connection:
            MIGRATIONS[version - 1](connection)
            # In the same transaction, so a crash never leaves a step applied but unrecorded.
            connection.execute(f"PRAGMA user_version = {version}")
        logger.info("database schema migrated to version %d", version)
    if _scalar(connection, "PRAGMA auto_vacuum") != INCREMENTAL_AUTO_VACUUM:
        connection.execute(f"PRAGMA auto_vacuum = {INCREMENTAL_AUTO_VACUUM}")
        connection.execute("VACUUM")  # rewrites the file once; outside any transaction
        logger.info("database rewritten to give free pages back to the file system")


def load_stored_state(connection: apsw.Connection) -> StoredState:
    """Read definitions, each process's latest run and the runs left open."""
    with connection:  # one read transaction: a consistent snapshot
        state = StoredState(
            definitions=_stored_definitions(connection),
            last_runs=_last_runs(connection),
            restart_counts=_restart_counts(connection),
            open_runs=_runs_where(connection, "ended_at IS NULL"),
            groups=group_store.load_groups(connection),
        )
    return state


def next_id(connection: apsw.Connection, sequence: SequenceName) -> int:
    """The first id of `sequence` never handed out."""
    return _scalar(connection, f"SELECT next_id FROM id_sequences WHERE name = '{sequence}'")


def reserve_ids(connection: apsw.Connection, sequence: SequenceName, count: int) -> int:
    """Reserve the next `count` ids of `sequence` for this daemon; returns the first of them."""
    with connection:
        first = next_id(connection, sequence)
        advance_sequence(connection, sequence, first + count)
    return first


def advance_sequence(connection: apsw.Connection, sequence: SequenceName, next_free: int) -> None:
    """Ids below `next_free` are taken (a sequence never goes back)."""
    connection.execute(
        "UPDATE id_sequences SET next_id = max(next_id, ?) WHERE name = ?", (next_free, sequence)
    )


def _create_private_folder(folder: Path) -> None:
    if not folder.exists():
        # Output lines can hold secrets: only the owner may enter the folder.
        folder.mkdir(mode=0o700, parents=True)


def _apply_write_pragmas(connection: apsw.Connection, path: Path) -> None:
    journal_mode = str(connection.execute("PRAGMA journal_mode = WAL").get)
    if journal_mode.lower() != "wal":
        logger.warning("%s: journal mode is %s, not WAL: readers will block the writer", path, journal_mode)
    # One at a time: apsw runs the statements after one that returns a row only when the
    # cursor is read on, so a script of pragmas would silently stop at the first.
    for pragma in (
        "synchronous = NORMAL",
        f"wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}",
        f"journal_size_limit = {JOURNAL_SIZE_LIMIT_BYTES}",
        "foreign_keys = OFF",
    ):
        connection.execute(f"PRAGMA {pragma}").fetchall()


_RUN_COLUMNS = (
    "id, process_id, pid, started_at, ended_at, exit_code, exit_signal, end_reason, end_state,"
    " requested_by, crash_phrase, incident_id, errors_checked, supervision"
)


def _run_from_row(row: apsw.SQLiteValues) -> StoredRun:
    return msgspec.convert(dict(zip(StoredRun.__struct_fields__, row, strict=True)), StoredRun)


def _runs_where(connection: apsw.Connection, condition: str, *args: int) -> list[StoredRun]:
    sql = f"SELECT {_RUN_COLUMNS} FROM runs WHERE {condition} ORDER BY id"
    return [_run_from_row(row) for row in connection.execute(sql, args)]


def last_line_of_run(connection: apsw.Connection, process_id: int, run_id: int) -> int:
    """The id of the run's last line (0 if it printed none): found from the newest line back."""
    row = connection.execute(
        "SELECT id FROM logs WHERE process_id = ? AND run_id = ? ORDER BY id DESC LIMIT 1",
        (process_id, run_id),
    ).fetchone()
    return 0 if row is None else int(row[0])


def stored_run(connection: apsw.Connection, run_id: int) -> StoredRun | None:
    runs = _runs_where(connection, "id = ?", run_id)
    return runs[0] if runs else None


def _last_runs(connection: apsw.Connection) -> dict[int, StoredRun]:
    latest = _runs_where(connection, "id IN (SELECT max(id) FROM runs GROUP BY process_id)")
    return {run.process_id: run for run in latest}


def _restart_counts(connection: apsw.Connection) -> dict[int, int]:
    """Per process, the runs since its latest start_process: its restarts, kept across daemons."""
    rows = connection.execute(
        "SELECT process_id, count(*) FROM runs AS run WHERE requested_by != 'start_process' AND id > "
        "coalesce((SELECT max(id) FROM runs AS start WHERE start.process_id = run.process_id"
        " AND start.requested_by = 'start_process'), 0) GROUP BY process_id"
    )
    return {process_id: count for process_id, count in rows}


def _stored_definitions(connection: apsw.Connection) -> list[StoredDefinition]:
    definitions = []
    rows = connection.execute("SELECT id, name, definition FROM processes ORDER BY id")
    for process_id, name, blob in rows:
        try:
            definition = msgspec.msgpack.decode(blob, type=ProcessDefinition)
        except msgspec.DecodeError:
            # One unreadable row must not stop the daemon from starting with all the others.
            logger.exception("stored definition of %r (id %d) is unreadable; skipped", name, process_id)
            continue
        definitions.append(StoredDefinition(process_id=process_id, definition=definition))
    return definitions


def _scalar(connection: apsw.Connection, sql: str) -> int:
    return int(connection.execute(sql).get)
