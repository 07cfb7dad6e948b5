"""The LogWriterActor: the one writer of the database, batching output lines into transactions.

SQLite has a single writer, so every write goes through this actor, in the order the messages
arrived: a definition is saved before the lines of its first run, and a process's data is
deleted only after the lines sent before the deletion. Lines are buffered and written in one
transaction per flush; a flush happens when 10,000 lines are pending or when the inbox is empty,
so a burst is written in large, cheap transactions and a trickle is written at once. Lines are
stored clean (`log_text.clean_line`): no ANSI escapes, only the last carriage-return redraw.

Capture is decoupled from full-text indexing: lines are stored at plain-insert speed, and the
writer (the same connection: SQLite has one writer) indexes id ranges behind a high-water mark
(`fts_progress`) whenever its inbox is empty, one chunk per message, so a new batch never waits
long behind the indexer and a burst is never slowed to FTS5 speed. A search asks for a flush
with a short indexing budget and reports the lines still unindexed, never silently less.

Errors are detected the same way, behind their own mark in the same idle time
(`incidents/detector.py`), and when a run ends, in the transaction that records the end.

Deleting lines (clear_logs, delete_process, retention) goes in chunks too, one per turn, with
the messages that arrived meanwhile handled in between (`line_deletions`). A client that asked
for a deletion is answered only once it is committed, or with the error that stopped it.
"""

from __future__ import annotations

import collections
import logging
import math
import time
from pathlib import Path
from typing import Any

import apsw

from pm_actors.actors import log_writes
from pm_actors.actors.base import DaemonActor, answer, fail
from pm_actors.actors.capture_pace import WINDOW_S, CapturePace
from pm_actors.actors.file_upkeep import FileUpkeep
from pm_actors.actors.fts_indexer import FullTextIndexer
from pm_actors.actors.incidents.detector import SETTLE_S, ChangeListener, ErrorDetector
from pm_actors.actors.line_deletions import AgeTrim, ClientDeletion, Job, SizeTrim
from pm_actors.actors.log_text import clean_lines
from pm_actors.actors.log_writes import LineUsage
from pm_actors.actors.messages import (
    Call,
    DeleteLines,
    DeleteProcessData,
    Flush,
    Housekeeping,
    IdleWork,
    LogBatch,
    RecordRunEnd,
    SaveDefinition,
    SettleErrors,
)
from pm_actors.actors.pending_writes import (
    LineBlock,
    Operation,
    Statement,
    describe,
    run_callbacks,
    write_in_order,
)
from pm_actors.actors.retention import RetentionPolicy, age_cutoff, over_size_limit, trim_target
from pm_actors.actors.scheduler import Scheduler
from pm_actors.actors.store import next_id, open_write_connection
from pm_actors.error_requests import MarkErrorResolved
from pm_actors.errors import DaemonUnavailable, InternalError, PmError

logger = logging.getLogger(__name__)

MAX_PENDING_LINES = 10_000
"""Flush at this many pending lines even while more messages wait (and before a batch that
would go past it): about where FTS5 inserts stop getting cheaper per line, and a bound on the
memory a burst holds and on how far a flood gets past its size limit before it is trimmed."""

HOUSEKEEPING_INTERVAL_S = 60.0
"""How often lines past the age limit are looked for and free pages given back: retention
counts in days, so a minute late is nothing, and an idle daemon does almost nothing each time."""


class LogWriterActor(DaemonActor):
    """Owns the only write connection; applies writer messages in the order received. It
    never asks another actor: every reader may block on it, so it must never wait in turn.

    It hands out line ids itself, from the `logs` sequence, so that a line's row and its index
    entry share the id without reading it back."""

    def __init__(
        self,
        database_path: Path,
        retention: RetentionPolicy,
        scheduler: Scheduler | None = None,
        errors_changed: ChangeListener | None = None,
        detect_errors: bool = True,
    ) -> None:
        """Runs in the thread that creates the actor; the connection is opened in `on_start`.
        Without a scheduler, housekeeping and settling run only when told (tests tell them).
        `errors_changed` is told (in this actor's thread) each process whose errors changed;
        with `detect_errors` False (PM_ERROR_TRACKING=false) no line is looked at for errors."""
        super().__init__()
        self._database_path = database_path
        self._retention = retention
        self._scheduler = scheduler
        self._connection: apsw.Connection | None = None
        self._next_log_id = 0
        self._pending: list[Operation] = []
        self._pending_lines = 0
        self._usage: dict[int, LineUsage] = {}
        self._jobs: collections.deque[Job] = collections.deque()
        self._idle_work_scheduled = False
        self._settle_scheduled = False
        self._indexer = FullTextIndexer()
        self._detector = ErrorDetector(errors_changed or (lambda process_id: None), detect_errors)
        self._pace = CapturePace()
        self._upkeep = FileUpkeep()

    def on_start(self) -> None:
        """Runs in the actor's thread: the connection is used from this thread only. Lines a
        previous daemon stored but did not index yet are indexed from here on, when idle."""
        self._connection = open_write_connection(self._database_path)
        self._next_log_id = next_id(self._connection, "logs")
        self._indexer.open(self._connection)
        self._usage = log_writes.stored_usage(self._connection)
        self._detector.open(self._connection)
        self.actor_ref.tell(Housekeeping())
        self._schedule_idle_work()

    def on_stop(self) -> None:
        """Runs in the actor's thread after the messages sent before the stop: none is lost.
        A deletion still under way is answered with how far it got."""
        self._flush()
        while self._jobs:
            self._jobs.popleft().finish(DaemonUnavailable("the daemon stopped before the deletion finished"))
        if self._connection is not None:
            self._detector.finish(self._connection, self._head)
            self._connection.execute("PRAGMA optimize").fetchall()
        self._close()
        super().on_stop()

    def handle(self, message: Any) -> Any:
        """Runs in the actor's thread, one message at a time, in the order they arrived."""
        if isinstance(message, Flush):
            self._flush()
            self._index_for(message.index_budget_s)
            self._classify_for(message.classify_budget_s)
        elif isinstance(message, IdleWork):
            self._on_idle_work()
        elif isinstance(message, SettleErrors):
            self._settle_scheduled = False
            self._flush()
            self._detector.step(self._open_connection(), self._head)
        elif isinstance(message, Call) and isinstance(message.request, MarkErrorResolved):
            answer(message.reply, self._detector.resolve(self._open_connection(), message.request))
        elif isinstance(message, Housekeeping):
            self._housekeeping()
        elif isinstance(message, DeleteLines):
            self._delete_lines(message)
        elif isinstance(message, LogBatch | Statement):
            if isinstance(message, LogBatch):
                if self._pending_lines + message.line_count > MAX_PENDING_LINES:
                    self._flush()  # one flush holds at most MAX_PENDING_LINES lines, or one larger batch
                self._add_lines(message)
            else:
                if isinstance(message, SaveDefinition):
                    self._detector.know_process(message.process_id, message.definition.cwd)
                self._pending.append(message)
            if self._pending_lines >= MAX_PENDING_LINES or self.actor_inbox.empty():
                self._flush()
        else:
            raise InternalError(f"the writer cannot handle {type(message).__name__}")
        self._schedule_idle_work()
        return None

    def _add_lines(self, batch: LogBatch) -> None:
        self._indexer.lines_came(time.monotonic())
        block = self._open_line_block()
        for stream, ts, texts in batch.chunks:
            if not texts:
                continue
            lines = clean_lines(texts)
            block.chunks.append((self._next_log_id, batch.process_id, batch.run_id, stream, ts, lines))
            self._next_log_id += len(lines)
            self._pending_lines += len(lines)
            block.lines[batch.process_id] += len(lines)
            block.chars[batch.process_id] += sum(map(len, lines))
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
        """Write everything pending in one transaction, then act on what was committed."""
        if not self._pending:
            return
        self._pace.stored(self._pending_lines, time.monotonic())
        operations, self._pending, self._pending_lines = self._pending, [], 0
        if self._connection is None:
            logger.error("no open database; lost %s", "; ".join(map(describe, operations)))
            errors: list[Exception | None] = [InternalError("the database is closed")] * len(operations)
        else:
            errors = write_in_order(self._connection, operations, self._detector.run_ended)
        # A process these lines took past its size limit gives back as many lines now, not when
        # its turn comes: a flood stays within a flush of its limit instead of outrunning the trim
        # (a chunk of lines already indexed is smaller than a flush).
        added: collections.Counter[int] = collections.Counter()
        for operation, error in zip(operations, errors, strict=True):
            self._after_write(operation, error)
            if isinstance(operation, LineBlock) and error is None:
                added.update(operation.lines)
        for job in [job for job in self._jobs if isinstance(job, SizeTrim)]:
            deleted = 0
            while job in self._jobs and deleted < max(1, added[job.process_id]):
                chunk = self._delete_chunk(job)
                if chunk == 0:
                    break
                deleted += chunk

    def _after_write(self, operation: Operation, error: Exception | None) -> None:
        if isinstance(operation, LineBlock) and error is None:
            self._count(operation)
        elif isinstance(operation, DeleteProcessData):
            if error is not None:
                fail(operation.reply, InternalError(f"deleting the process failed, nothing went: {error}"))
            else:  # its definition and runs are gone; its lines go in chunks now
                self._jobs.append(
                    ClientDeletion(operation.process_id, None, self._next_log_id - 1, operation.reply)
                )
        elif isinstance(operation, RecordRunEnd):
            self._detector.run_end_written(operation, committed=error is None)
        run_callbacks(operation)

    def _count(self, block: LineBlock) -> None:
        """Add a committed block to the stored usage; start trimming a process now too large."""
        for process_id, added in block.lines.items():
            lines, chars = self._usage.get(process_id, (0, 0))
            self._usage[process_id] = (lines + added, chars + block.chars[process_id])
        chars_by_process = {process_id: self._usage[process_id][1] for process_id in block.lines}
        trimming = {job.process_id for job in self._jobs if isinstance(job, SizeTrim)}
        for process_id in over_size_limit(chars_by_process, self._retention):
            if process_id not in trimming:
                self._jobs.append(SizeTrim(process_id, trim_target(self._retention)))

    # Deleting lines ---------------------------------------------------------------------------

    def _delete_lines(self, message: DeleteLines) -> None:
        """clear_logs: every line at once, or the matching lines in chunks; the errors in them
        are counted first (an error keeps its evidence when its lines go)."""
        self._flush()  # the lines received before the request are part of what it clears
        self._classify_for(None)
        if message.process_id is not None or message.before_ts is not None:
            self._jobs.append(
                ClientDeletion(message.process_id, message.before_ts, self._next_log_id - 1, message.reply)
            )
            return
        if self._connection is None:
            fail(message.reply, InternalError("the database is closed"))
            return
        try:
            with self._connection:
                log_writes.delete_every_line(self._connection)
        except apsw.Error as error:
            logger.exception("clearing every line failed")
            fail(message.reply, InternalError(f"clearing the logs failed, nothing went: {error}"))
            return
        cleared = sum(lines for lines, _ in self._usage.values())  # every line is committed: all of them
        self._usage.clear()
        self._upkeep.vacuum_due = True
        answer(message.reply, cleared)

    def _delete_chunk(self, job: Job) -> int:
        """The next chunk of a deletion job, in its own transaction; returns how many lines
        went. A job done (or failed) leaves the queue and is answered."""
        if self._connection is None:
            self._end_job(job, InternalError("the database is closed"))
            return 0
        try:
            chunk = job.next_chunk(self._connection, self._usage, self._indexer.indexed_up_to)
            if chunk is None:
                self._end_job(job, None)
                return 0
            with self._connection:
                removed = log_writes.delete_lines(
                    self._connection, chunk.where, chunk.args, self._indexer.indexed_up_to
                )
        except apsw.Error as error:
            logger.exception("deleting lines (%r) failed", job)
            self._end_job(job, InternalError(f"the database refused to delete lines: {error}"))
            return 0
        self._uncount(removed)
        lines = sum(count for count, _ in removed.values())
        job.on_deleted(lines)
        return lines

    def _end_job(self, job: Job, error: PmError | None) -> None:
        self._jobs.remove(job)
        job.finish(error)
        self._upkeep.vacuum_due = True

    def _uncount(self, removed: dict[int, LineUsage]) -> None:
        for process_id, (lines, chars) in removed.items():
            stored_lines, stored_chars = self._usage.get(process_id, (0, 0))
            if stored_lines <= lines:
                self._usage.pop(process_id, None)
            else:
                self._usage[process_id] = (stored_lines - lines, stored_chars - chars)

    # Idle work: deleting, detecting errors, indexing, giving pages back ----------------------

    def _schedule_idle_work(self) -> None:
        """Queue one IdleWork if there is any and none is queued already; and one SettleErrors
        later while a trace is held (its run may still be printing it)."""
        if not self._settle_scheduled and self._scheduler is not None and self._detector.holding():
            self._settle_scheduled = True
            self._scheduler.tell_later(SETTLE_S, self.actor_ref, SettleErrors())
        if self._idle_work_scheduled:
            return
        detect = self._detector.behind(self._head)
        if (
            self._jobs
            or self._upkeep.vacuum_due
            or self._indexer.behind(self._head)
            or (detect and not self._capture_busy())
        ):
            self._idle_work_scheduled = True
            self.actor_ref.tell(IdleWork())
        elif detect and self._scheduler is not None:  # capture is flooding: detection waits its turn
            self._idle_work_scheduled = True
            self._scheduler.tell_later(WINDOW_S, self.actor_ref, IdleWork())

    def _on_idle_work(self) -> None:
        """A deletion chunk in any case (someone waits, or a process is too large); indexing,
        detecting and vacuuming only if nothing else waits. Then to the back of the queue again.
        Indexing goes before detection once lines pause: after a flood its lines are searchable
        first (the goal is a second), and its errors counted next."""
        self._idle_work_scheduled = False
        if not self._jobs and not self.actor_inbox.empty():
            return  # indexing, detecting and vacuuming wait until nothing else does
        self._flush()
        index_in = self._indexer.quiet_in(time.monotonic()) if self._scheduler is not None else 0.0
        if self._jobs:
            self._delete_chunk(self._jobs[0])
        elif self._indexer.behind(self._head) and index_in <= 0:
            self._indexer.step(self._open_connection(), self._head)
        elif self._detector.behind(self._head) and not self._capture_busy():
            self._detector.step(self._open_connection(), self._head)
        elif self._indexer.behind(self._head) and self._scheduler is not None:
            self._idle_work_scheduled = True  # look again once lines may have paused
            self._scheduler.tell_later(index_in, self.actor_ref, IdleWork())
        elif self._upkeep.vacuum_due:
            self._upkeep.vacuum_step(self._open_connection())

    def _capture_busy(self) -> bool:
        """Whether a flood is being stored (a writer without timers, in tests, never waits)."""
        return self._scheduler is not None and self._pace.busy(time.monotonic())

    @property
    def _head(self) -> int:
        """The id of the newest line handed out: committed, once `_flush` has run."""
        return self._next_log_id - 1

    def _classify_for(self, budget_s: float | None) -> None:
        """Detect errors for at most `budget_s` (None: until done), for a reader of errors that
        asked, or before lines are cleared."""
        self._catch_up(self._detector, budget_s)

    def _catch_up(self, worker: FullTextIndexer | ErrorDetector, budget_s: float | None) -> None:
        """Step `worker` (the indexer or the detector) behind the stored lines for at most
        `budget_s` (None: until it has caught up)."""
        deadline = math.inf if budget_s is None else time.monotonic() + budget_s
        while worker.behind(self._head) and time.monotonic() < deadline:
            worker.step(self._open_connection(), self._head)

    def _open_connection(self) -> apsw.Connection:
        if self._connection is None:
            raise InternalError("the database is closed")
        return self._connection

    def _index_for(self, budget_s: float | None) -> None:
        """Index for at most `budget_s` (None: until done), for a reader that asked."""
        self._catch_up(self._indexer, budget_s)

    def _housekeeping(self) -> None:
        """Trim lines past the age limit, refresh statistics when due; give pages back when idle."""
        if self._scheduler is not None:
            self._scheduler.tell_later(HOUSEKEEPING_INTERVAL_S, self.actor_ref, Housekeeping())
        if self._connection is None:
            return
        self._flush()
        cutoff = age_cutoff(time.time(), self._retention)
        oldest = self._connection.execute("SELECT ts FROM logs ORDER BY id LIMIT 1").fetchone()
        if (
            oldest is not None
            and oldest[0] < cutoff
            and not any(isinstance(job, AgeTrim) for job in self._jobs)
        ):
            self._jobs.append(AgeTrim(cutoff))
        self._upkeep.optimize_when_due(self._connection)
        self._upkeep.vacuum_due = True

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
