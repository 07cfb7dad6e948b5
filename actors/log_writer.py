"""The LogWriterActor: the one writer of the database, batching output lines into transactions.

SQLite has a single writer, so every write goes through this actor, in the order the messages
arrived: a definition is saved before the lines of its first run, and a process's data is
deleted only after the lines sent before the deletion. Lines are buffered and written in one
transaction per flush; a flush happens when 10,000 lines are pending or when the inbox is empty,
so a burst is written in large, cheap transactions and a trickle is written at once.

Capture is decoupled from full-text indexing: lines are stored at plain-insert speed, and the
writer (the same connection: SQLite has one writer) indexes id ranges behind a high-water mark
(`fts_progress`) whenever its inbox is empty, one chunk per message, so a new batch never waits
long behind the indexer and a burst is never slowed to FTS5 speed. A search asks for a flush
with a short indexing budget and reports the lines still unindexed, never silently less.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import apsw
import msgspec

from pm_actors.actors import group_store
from pm_actors.actors.base import DaemonActor
from pm_actors.actors.messages import (
    DeleteGroupData,
    DeleteProcessData,
    Flush,
    IndexMore,
    LogBatch,
    RecordHealthCheck,
    RecordRunEnd,
    RecordRunStart,
    SaveDefinition,
    SaveGroup,
)
from pm_actors.actors.store import indexed_up_to, open_write_connection
from pm_actors.errors import InternalError

logger = logging.getLogger(__name__)

MAX_PENDING_LINES = 10_000
"""Flush at this many pending lines even while more messages wait: about where FTS5 inserts
stop getting cheaper per line, and a bound on the memory a burst holds."""

INDEX_CHUNK_ROWS = 5_000
"""Lines indexed per step: ~25 ms at FTS5 speed, the longest a new batch waits for the indexer."""

LogRow = tuple[int, int, int, int, float, str]
"""(id, process_id, run_id, stream, ts, line): one row of the logs table."""

HEALTH_HISTORY_PER_PROCESS = 1000
"""Health checks kept per process (the newest): hours of history at typical intervals, and a
bound on the table however long a process runs."""

Statement = (
    SaveDefinition
    | DeleteProcessData
    | RecordRunStart
    | RecordRunEnd
    | RecordHealthCheck
    | SaveGroup
    | DeleteGroupData
)
STATEMENT_TYPES = (
    SaveDefinition,
    DeleteProcessData,
    RecordRunStart,
    RecordRunEnd,
    RecordHealthCheck,
    SaveGroup,
    DeleteGroupData,
)


@dataclasses.dataclass
class LineBlock:
    """Lines of consecutive LogBatches, written with one statement for rows and one for the
    index. Their ids are contiguous because the writer hands them out in arrival order."""

    rows: list[LogRow] = dataclasses.field(default_factory=list)
    callbacks: list[Callable[[], None]] = dataclasses.field(default_factory=list)


Operation = LineBlock | Statement


class LogWriterActor(DaemonActor):
    """Owns the only write connection; applies writer messages in the order received. It
    never asks another actor: every reader may block on it, so it must never wait in turn.

    `next_log_id` must be larger than every id in the logs table (see
    `store.load_stored_state`): the writer assigns ids itself so that a line's row and its
    index entry share the id without reading it back.
    """

    def __init__(self, database_path: Path, next_log_id: int) -> None:
        """Runs in the thread that creates the actor; the connection is opened in `on_start`."""
        super().__init__()
        self._database_path = database_path
        self._next_log_id = next_log_id
        self._connection: apsw.Connection | None = None
        self._pending: list[Operation] = []
        self._pending_lines = 0
        self._indexed_up_to = 0
        self._indexing_scheduled = False
        self._indexing_failed = False

    def on_start(self) -> None:
        """Runs in the actor's thread: the connection is used from this thread only. Lines a
        previous daemon stored but did not index yet are indexed from here on, when idle."""
        self._connection = open_write_connection(self._database_path)
        self._indexed_up_to = indexed_up_to(self._connection)
        self._schedule_indexing()

    def on_stop(self) -> None:
        """Runs in the actor's thread after the messages sent before the stop: none is lost."""
        self._flush()
        self._close()
        super().on_stop()

    def handle(self, message: Any) -> Any:
        """Runs in the actor's thread, one message at a time, in the order they arrived."""
        if isinstance(message, Flush):
            self._flush()
            self._index_for(message.index_budget_s)
            return None
        if isinstance(message, IndexMore):
            self._index_when_idle()
            return None
        if isinstance(message, LogBatch):
            self._add_lines(message)
        elif isinstance(message, STATEMENT_TYPES):
            self._pending.append(message)
        else:
            raise InternalError(f"the writer cannot handle {type(message).__name__}")
        if self._pending_lines >= MAX_PENDING_LINES or self.actor_inbox.empty():
            self._flush()
            self._schedule_indexing()
        return None

    def _add_lines(self, batch: LogBatch) -> None:
        first_id = self._next_log_id
        rows = [
            (first_id + offset, batch.process_id, batch.run_id, stream, ts, text)
            for offset, (stream, ts, text) in enumerate(batch.entries)
        ]
        self._next_log_id += len(rows)
        self._pending_lines += len(rows)
        block = self._open_line_block()
        block.rows.extend(rows)
        if batch.on_committed is not None:
            block.callbacks.append(batch.on_committed)

    def _open_line_block(self) -> LineBlock:
        """The block at the end of the queue, or a new one after a statement (order is kept)."""
        if self._pending and isinstance(self._pending[-1], LineBlock):
            return self._pending[-1]
        block = LineBlock()
        self._pending.append(block)
        return block

    def _flush(self) -> None:
        """Write everything pending in one transaction, then run the commit callbacks."""
        if not self._pending:
            return
        operations, self._pending, self._pending_lines = self._pending, [], 0
        if self._connection is None:
            logger.error("no open database; lost %s", "; ".join(map(_describe, operations)))
        else:
            _write_in_order(self._connection, operations)
        _run_callbacks(operations)

    # Indexing behind the inserts --------------------------------------------------------------

    def _schedule_indexing(self) -> None:
        """Queue one IndexMore if lines wait to be indexed and none is queued already."""
        if self._indexing_scheduled or self._indexing_failed or not self._lines_to_index():
            return
        self._indexing_scheduled = True
        self.actor_ref.tell(IndexMore())

    def _index_when_idle(self) -> None:
        """One chunk if nothing else waits; otherwise go to the back of the queue again."""
        self._indexing_scheduled = False
        if self.actor_inbox.empty():
            self._flush()
            self._index_chunk()
        self._schedule_indexing()

    def _index_for(self, budget_s: float | None) -> None:
        """Index for at most `budget_s` (None: until done), for a reader that asked."""
        deadline = None if budget_s is None else time.monotonic() + budget_s
        while self._lines_to_index() and not self._indexing_failed:
            if deadline is not None and time.monotonic() >= deadline:
                return
            self._index_chunk()

    def _lines_to_index(self) -> bool:
        return self._indexed_up_to < self._next_log_id - 1

    def _index_chunk(self) -> None:
        """Index the next id range and move the high-water mark, in one transaction."""
        if self._connection is None or not self._lines_to_index():
            return
        upper = min(self._indexed_up_to + INDEX_CHUNK_ROWS, self._next_log_id - 1)
        try:
            with self._connection:
                self._connection.execute(
                    "INSERT INTO logs_fts(rowid, line) SELECT id, line FROM logs WHERE id > ? AND id <= ?",
                    (self._indexed_up_to, upper),
                )
                self._connection.execute("UPDATE fts_progress SET indexed_up_to = ?", (upper,))
        except apsw.Error:
            # Searches go on reporting these lines as unindexed; the next daemon start retries.
            logger.exception("indexing lines %d..%d failed; indexing stops", self._indexed_up_to + 1, upper)
            self._indexing_failed = True
            return
        self._indexed_up_to = upper

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _write_in_order(connection: apsw.Connection, operations: list[Operation]) -> None:
    """Write the operations in one transaction. If it fails, retry each in its own, in order,
    so one bad operation costs only itself, and name each one that still cannot be written."""
    try:
        with connection:
            for operation in operations:
                _apply_operation(connection, operation)
        return
    except apsw.Error:
        logger.exception(
            "writing %d operations to %s failed; retrying each in its own transaction",
            len(operations),
            connection.filename,
        )
    for operation in operations:
        try:
            with connection:
                _apply_operation(connection, operation)
        except apsw.Error:
            logger.exception("lost %s: it could not be written", _describe(operation))


def _apply_operation(connection: apsw.Connection, operation: Operation) -> None:
    """Run the SQL of one operation inside the caller's transaction."""
    if isinstance(operation, LineBlock):
        _insert_lines(connection, operation.rows)
    elif isinstance(operation, SaveDefinition):
        _save_definition(connection, operation)
    elif isinstance(operation, RecordRunStart):
        connection.execute(
            "INSERT INTO runs(id, process_id, pid, started_at, requested_by) VALUES(?, ?, ?, ?, ?)",
            (
                operation.run_id,
                operation.process_id,
                operation.pid,
                operation.started_at,
                operation.requested_by,
            ),
        )
    elif isinstance(operation, RecordRunEnd):
        _record_run_end(connection, operation)
    elif isinstance(operation, RecordHealthCheck):
        _record_health_check(connection, operation)
    elif isinstance(operation, SaveGroup):
        group_store.save_group(connection, operation.group, operation.updated_at)
    elif isinstance(operation, DeleteGroupData):
        group_store.delete_group(connection, operation.name)
    else:
        _delete_process_data(connection, operation.process_id)


def _insert_lines(connection: apsw.Connection, rows: list[LogRow]) -> None:
    if not rows:
        return
    connection.executemany(
        "INSERT INTO logs(id, process_id, run_id, stream, ts, line) VALUES(?, ?, ?, ?, ?, ?)", rows
    )


def _save_definition(connection: apsw.Connection, message: SaveDefinition) -> None:
    # Upsert by id: a process keeps its id (and so its runs and lines) when its definition changes.
    connection.execute(
        "INSERT INTO processes(id, name, definition, updated_at) VALUES(?, ?, ?, ?)"
        " ON CONFLICT(id) DO UPDATE SET"
        " name = excluded.name, definition = excluded.definition, updated_at = excluded.updated_at",
        (
            message.process_id,
            message.definition.name,
            msgspec.msgpack.encode(message.definition),
            message.updated_at,
        ),
    )


def _record_run_end(connection: apsw.Connection, message: RecordRunEnd) -> None:
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


def _record_health_check(connection: apsw.Connection, message: RecordHealthCheck) -> None:
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


def _delete_process_data(connection: apsw.Connection, process_id: int) -> None:
    # An external-content index is told which rows to forget, with the text they were indexed
    # with, so this must run before the rows go; rows above the high-water mark were never indexed.
    for statement in (
        "INSERT INTO logs_fts(logs_fts, rowid, line) SELECT 'delete', id, line FROM logs"
        " WHERE process_id = ?1 AND id <= (SELECT indexed_up_to FROM fts_progress)",
        "DELETE FROM logs WHERE process_id = ?",
        "DELETE FROM runs WHERE process_id = ?",
        "DELETE FROM health_checks WHERE process_id = ?",
        "DELETE FROM processes WHERE id = ?",
    ):
        connection.execute(statement, (process_id,))


def _run_callbacks(operations: list[Operation]) -> None:
    """Tell each sender that asked (a batch's, a statement's `on_committed`) its operation is
    written (or, after an error, logged as lost): a sender that waits for this must never wait
    forever, and no callback may stop the writer."""
    for operation in operations:
        for callback in _callbacks_of(operation):
            try:
                callback()
            except Exception:
                logger.exception("on_committed callback %r failed", callback)


def _callbacks_of(operation: Operation) -> list[Callable[[], None]]:
    if isinstance(operation, LineBlock):
        return operation.callbacks
    on_committed = getattr(operation, "on_committed", None)  # a statement may carry one
    return [] if on_committed is None else [on_committed]


def _describe(operation: Operation) -> str:
    """Enough to find the lost data in a log, without a definition's env (it may hold secrets)."""
    if isinstance(operation, LineBlock):
        if not operation.rows:
            return "an empty batch of lines"
        rows = operation.rows
        process_ids = sorted({row[1] for row in rows})
        return f"{len(rows)} lines (ids {rows[0][0]}..{rows[-1][0]}) of processes {process_ids}"
    if isinstance(operation, SaveDefinition):
        return f"the definition of {operation.definition.name!r} (process {operation.process_id})"
    return repr(operation)
