"""What the LogWriterActor holds between flushes, and how it writes it: in one transaction, in
the order received, or one operation at a time when that transaction fails, so that one bad
operation costs only itself and is named in the log."""

from __future__ import annotations

import collections
import dataclasses
import logging
from collections.abc import Callable

import apsw

from pm_actors.actors import group_store, log_writes
from pm_actors.actors.log_writes import StoredChunk
from pm_actors.actors.messages import (
    DeleteGroupData,
    DeleteProcessData,
    RecordHealthCheck,
    RecordRunEnd,
    RecordRunStart,
    RecordSupervision,
    ReserveIds,
    SaveDefinition,
    SaveGroup,
)
from pm_actors.actors.store import advance_sequence

logger = logging.getLogger(__name__)

Statement = (
    SaveDefinition
    | DeleteProcessData
    | RecordRunStart
    | RecordRunEnd
    | RecordSupervision
    | RecordHealthCheck
    | ReserveIds
    | SaveGroup
    | DeleteGroupData
)


@dataclasses.dataclass
class LineBlock:
    """Lines of consecutive LogBatches, written with one statement. Their ids are contiguous
    because the writer hands them out in arrival order."""

    chunks: list[StoredChunk] = dataclasses.field(default_factory=list)
    callbacks: list[Callable[[], None]] = dataclasses.field(default_factory=list)
    lines: collections.Counter[int] = dataclasses.field(default_factory=collections.Counter)
    chars: collections.Counter[int] = dataclasses.field(default_factory=collections.Counter)
    """Lines and characters by process id: added to the stored usage once committed."""


Operation = LineBlock | Statement
RunEndHook = Callable[[apsw.Connection, RecordRunEnd], None]
"""Runs inside the transaction that records a run's end, after its statement."""


def write_in_order(
    connection: apsw.Connection, operations: list[Operation], on_run_end: RunEndHook
) -> list[Exception | None]:
    """Write the operations in one transaction. If it fails, retry each in its own, in order,
    so one bad operation costs only itself; returns the error of each (None: written)."""
    try:
        with connection:
            for operation in operations:
                _apply_operation(connection, operation, on_run_end)
        return [None] * len(operations)
    except apsw.Error:
        logger.exception(
            "writing %d operations to %s failed; retrying each in its own transaction",
            len(operations),
            connection.filename,
        )
    errors: list[Exception | None] = []
    for operation in operations:
        try:
            with connection:
                _apply_operation(connection, operation, on_run_end)
        except apsw.Error as error:
            logger.exception("lost %s: it could not be written", describe(operation))
            errors.append(error)
        else:
            errors.append(None)
    return errors


def _apply_operation(connection: apsw.Connection, operation: Operation, on_run_end: RunEndHook) -> None:
    """Run the SQL of one operation inside the caller's transaction."""
    if isinstance(operation, LineBlock):
        log_writes.insert_lines(connection, operation.chunks)
    elif isinstance(operation, SaveDefinition):
        log_writes.save_definition(connection, operation)
    elif isinstance(operation, RecordRunStart):
        log_writes.record_run_start(connection, operation)
    elif isinstance(operation, RecordRunEnd):
        log_writes.record_run_end(connection, operation)
        on_run_end(connection, operation)
    elif isinstance(operation, RecordSupervision):
        log_writes.record_supervision(connection, operation)
    elif isinstance(operation, RecordHealthCheck):
        log_writes.record_health_check(connection, operation)
    elif isinstance(operation, ReserveIds):
        advance_sequence(connection, operation.sequence, operation.up_to)
    elif isinstance(operation, SaveGroup):
        group_store.save_group(connection, operation.group, operation.updated_at)
    elif isinstance(operation, DeleteGroupData):
        group_store.delete_group(connection, operation.name)
    else:
        log_writes.delete_process_rows(connection, operation.process_id)


def run_callbacks(operation: Operation) -> None:
    """Tell each sender that asked (a batch's, a statement's `on_committed`) its operation is
    written (or, after an error, logged as lost): a sender that waits for this must never wait
    forever, and no callback may stop the writer."""
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


def describe(operation: Operation) -> str:
    """Enough to find the lost data in a log, without a definition's env (it may hold secrets)."""
    if isinstance(operation, LineBlock):
        chunks = operation.chunks
        if not chunks:
            return "an empty batch of lines"
        count = sum(len(chunk[5]) for chunk in chunks)
        first, last = chunks[0][0], chunks[-1][0] + len(chunks[-1][5]) - 1
        return f"{count} lines (ids {first}..{last}) of processes {sorted(operation.lines)}"
    if isinstance(operation, SaveDefinition):
        return f"the definition of {operation.definition.name!r} (process {operation.process_id})"
    return repr(operation)
