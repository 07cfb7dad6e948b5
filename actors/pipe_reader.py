"""The one IO thread: reads every child's stdout and stderr, learns of every exit, and reaps
the orphans the daemon adopted.

One selector watches all pipes and all pidfds (no thread per pipe or per child). Lines go to
the LogWriterActor in batches. Each run may have at most `MAX_IN_FLIGHT_CHARS` of text sent
but not yet committed; past that the thread stops reading that run's pipes only, so a
flooding child blocks on its full pipe (backpressure, never loss, bounded memory) while quiet
children keep flowing. The writer's commit callback releases the budget.

Everything below runs on the IO thread, except the public methods, which only queue a
command and wake the selector.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import selectors
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pykka

from pm_actors.actors.child import Child, reap_adopted
from pm_actors.actors.line_splitter import LineSplitter
from pm_actors.actors.messages import STDERR, STDOUT, LogBatch, LogEntry

logger = logging.getLogger(__name__)

READ_SIZE = 64 * 1024
MAX_IN_FLIGHT_CHARS = 1024 * 1024
"""Per run: text read but not yet committed. Bounds memory per child under a flood."""
RESUME_BELOW_CHARS = MAX_IN_FLIGHT_CHARS // 2
"""Reading resumes with room for a good batch, not after every single commit."""
MAX_READS_PER_WAKEUP = 16
"""Reads of one pipe per select round: enough for big batches, little enough to stay fair."""
REAP_INTERVAL_S = 1.0
"""How often orphans adopted by the daemon (as subreaper) are reaped once they exit: a zombie
holds nothing but its pid, and a look costs one system call when none has exited."""


@dataclass(eq=False)
class RunWatch:
    """What the IO thread tracks of one run of one child."""

    process_id: int
    run_id: int
    child: Child
    on_exit: Callable[[int], None]
    """Called on the IO thread with the exit status once the child is reaped."""
    on_output_complete: Callable[[], None]
    """Called on the writer's thread once both pipes reached EOF and every line is committed."""
    splitters: dict[int, LineSplitter] = field(default_factory=dict)
    open_pipes: dict[int, int] = field(default_factory=dict)
    """fd -> stream, for the pipes that have not reached EOF."""
    pending: list[LogEntry] = field(default_factory=list)
    in_flight_chars: int = 0
    paused: bool = False
    pidfd_watched: bool = False
    final_batch_sent: bool = False


class PipeReader:
    def __init__(self, writer: pykka.ActorRef[Any], on_committed: Callable[[int], None]) -> None:
        """`on_committed(process_id)` runs on the writer's thread after each commit of a batch of
        that process's lines (the event hub publishes its new output)."""
        self._writer = writer
        self._on_committed = on_committed
        self._selector = selectors.DefaultSelector()
        self._commands: collections.deque[Callable[[], None]] = collections.deque()
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self._selector.register(self._wake_read, selectors.EVENT_READ, None)
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="pm-pipe-reader", daemon=True)

    # Public, thread-safe ---------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread. Runs still watched are abandoned: stop every child first."""
        self._submit(self._request_stop)
        self._thread.join()
        self._selector.close()
        os.close(self._wake_read)
        os.close(self._wake_write)

    def watch(self, watch: RunWatch) -> None:
        """Start reading a freshly spawned child's pipes and waiting for its exit."""
        self._submit(lambda: self._add(watch))

    def exited(self, watch: RunWatch) -> None:
        """An adopted child's exit status arrived (from the keeper): report it like a reaping."""
        self._submit(lambda: self._reap(watch))

    def close_output(self, watch: RunWatch) -> None:
        """Treat both pipes as ended now: for a child that exited while something it left
        behind (outside its group) still holds the pipes open."""
        self._submit(lambda: self._close_all_pipes(watch))

    # IO thread ---------------------------------------------------------------------------

    def _submit(self, command: Callable[[], None]) -> None:
        self._commands.append(command)
        with contextlib.suppress(BlockingIOError):  # a full wake pipe: a wake-up is already due
            os.write(self._wake_write, b"\0")

    def _request_stop(self) -> None:
        """Lines read and not yet sent still go to the writer (a daemon that stops to be
        started again loses none of them); the runs themselves are abandoned."""
        self._stopping = True
        watches = {key.data[0] for key in self._selector.get_map().values() if key.data is not None}
        for watch in watches:
            self._send_pending(watch)

    def _run(self) -> None:
        next_reap = time.monotonic() + REAP_INTERVAL_S
        while not self._stopping:
            ready_watches: set[RunWatch] = set()
            if time.monotonic() >= next_reap:
                reap_adopted()
                next_reap = time.monotonic() + REAP_INTERVAL_S
            for key, _ in self._selector.select(max(next_reap - time.monotonic(), 0)):
                if key.data is None:
                    self._run_commands()
                    continue
                watch, fd = key.data
                if fd == watch.child.pidfd:
                    self._reap(watch, ended=True)
                else:
                    self._read(watch, fd)
                    ready_watches.add(watch)
            for watch in ready_watches:
                self._send_pending(watch)
                self._finish_output_if_done(watch)

    def _run_commands(self) -> None:
        try:
            while os.read(self._wake_read, 4096):
                pass
        except BlockingIOError:
            pass
        while self._commands:
            try:
                self._commands.popleft()()
            except Exception:
                logger.exception("pipe reader command failed")

    def _add(self, watch: RunWatch) -> None:
        for fd, stream in ((watch.child.stdout_fd, STDOUT), (watch.child.stderr_fd, STDERR)):
            watch.open_pipes[fd] = stream
            watch.splitters[fd] = LineSplitter()
            self._selector.register(fd, selectors.EVENT_READ, (watch, fd))
        if watch.child.pidfd is not None:
            self._selector.register(watch.child.pidfd, selectors.EVENT_READ, (watch, watch.child.pidfd))
            watch.pidfd_watched = True

    def _read(self, watch: RunWatch, fd: int) -> None:
        """Read what the pipe has, up to the per-round budget."""
        stream = watch.open_pipes[fd]
        splitter = watch.splitters[fd]
        for _ in range(MAX_READS_PER_WAKEUP):
            try:
                data = os.read(fd, READ_SIZE)
            except BlockingIOError:
                return
            if not data:
                self._end_pipe(watch, fd)
                return
            now = time.time()
            watch.pending.extend((stream, now, line) for line in splitter.feed(data))

    def _end_pipe(self, watch: RunWatch, fd: int) -> None:
        stream = watch.open_pipes.pop(fd)
        now = time.time()
        watch.pending.extend((stream, now, line) for line in watch.splitters.pop(fd).finish())
        if not watch.paused:
            self._selector.unregister(fd)
        watch.child.close_pipe(fd)

    def _close_all_pipes(self, watch: RunWatch) -> None:
        for fd in list(watch.open_pipes):
            self._read(watch, fd)  # the pipe's buffer fits in one round's budget
            if fd in watch.open_pipes:
                self._end_pipe(watch, fd)
        self._send_pending(watch)
        self._finish_output_if_done(watch)

    def _reap(self, watch: RunWatch, ended: bool = False) -> None:
        """Report the child's exit if its status is known; `ended`: its pidfd said it ended."""
        status = watch.child.reap()
        if status is None:
            if ended and watch.child.status_from_keeper and watch.child.pidfd is not None:
                # An adopted child ended: its status comes from the keeper (`exited`), later.
                self._selector.unregister(watch.child.pidfd)
                watch.pidfd_watched = False
            return  # else a spurious wake-up: the pidfd stays registered
        if watch.pidfd_watched and watch.child.pidfd is not None:
            self._selector.unregister(watch.child.pidfd)
            watch.pidfd_watched = False
        watch.child.close_pidfd()
        watch.on_exit(status)

    def _send_pending(self, watch: RunWatch) -> None:
        if not watch.pending:
            return
        entries, watch.pending = watch.pending, []
        size = sum(len(text) for _, _, text in entries)
        watch.in_flight_chars += size
        self._writer.tell(
            LogBatch(watch.process_id, watch.run_id, entries, lambda: self._release(watch, size))
        )
        if watch.in_flight_chars >= MAX_IN_FLIGHT_CHARS and not watch.paused:
            self._pause(watch)

    def _finish_output_if_done(self, watch: RunWatch) -> None:
        """Once both pipes are closed, a last (empty) batch tells the process its output is in."""
        if watch.open_pipes or watch.final_batch_sent:
            return
        watch.final_batch_sent = True
        self._writer.tell(LogBatch(watch.process_id, watch.run_id, [], watch.on_output_complete))

    def _release(self, watch: RunWatch, size: int) -> None:
        """Called on the writer's thread after a commit: hand the accounting to the IO thread."""
        self._on_committed(watch.process_id)
        self._submit(lambda: self._credit(watch, size))

    def _credit(self, watch: RunWatch, size: int) -> None:
        watch.in_flight_chars -= size
        if watch.paused and watch.in_flight_chars < RESUME_BELOW_CHARS:
            self._resume(watch)

    def _pause(self, watch: RunWatch) -> None:
        watch.paused = True
        for fd in watch.open_pipes:
            self._selector.unregister(fd)

    def _resume(self, watch: RunWatch) -> None:
        watch.paused = False
        for fd in watch.open_pipes:
            self._selector.register(fd, selectors.EVENT_READ, (watch, fd))
