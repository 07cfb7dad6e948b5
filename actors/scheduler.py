"""The one scheduler thread: actors never sleep, they ask to be told later.

A stop timeout, a pipe-drain grace period or a backoff delay is a `tell_later`: a message the
scheduler tells the actor when the delay is over. Callbacks run on the scheduler thread and
must be quick and non-blocking.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pykka

from pm_actors.actors.delivery import tell_if_alive

logger = logging.getLogger(__name__)


class TimerHandle:
    """Returned by `call_later`; `cancel()` makes the callback a no-op if it has not run yet."""

    __slots__ = ("cancelled",)

    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Scheduler:
    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._queue: list[tuple[float, int, TimerHandle, Callable[[], object]]] = []
        self._sequence = itertools.count()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="pm-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._condition:
            self._stopping = True
            self._condition.notify()
        self._thread.join()

    def call_later(self, delay_s: float, callback: Callable[[], object]) -> TimerHandle:
        handle = TimerHandle()
        deadline = time.monotonic() + max(0.0, delay_s)
        with self._condition:
            heapq.heappush(self._queue, (deadline, next(self._sequence), handle, callback))
            self._condition.notify()
        return handle

    def tell_later(self, delay_s: float, actor: pykka.ActorRef[Any], message: Any) -> TimerHandle:
        """Tell `actor` the `message` after `delay_s`; dropped quietly if the actor stopped meanwhile."""
        return self.call_later(delay_s, lambda: tell_if_alive(actor, message))

    def _run(self) -> None:
        """Runs on the scheduler thread until `stop()`."""
        while True:
            with self._condition:
                while not self._stopping and not self._due():
                    self._condition.wait(self._seconds_to_next())
                if self._stopping:
                    return
                _, _, handle, callback = heapq.heappop(self._queue)
            if handle.cancelled:
                continue
            try:
                callback()
            except Exception:
                logger.exception("a scheduled callback failed")

    def _due(self) -> bool:
        return bool(self._queue) and self._queue[0][0] <= time.monotonic()

    def _seconds_to_next(self) -> float | None:
        if not self._queue:
            return None
        return max(0.0, self._queue[0][0] - time.monotonic())
