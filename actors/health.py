"""HealthActor: runs each watched run's health check on an interval and reports every outcome.

One actor for every process. A check never runs on the actor's thread (actors never block):
it runs on a small thread pool owned by the actor, and its outcome comes back as a
`CheckFinished` message. Here, on the actor's thread, consecutive failures are counted, the
health computed (unknown until the first result, healthy on a pass, unhealthy once
`failure_threshold` checks in a row failed; a failure below the threshold keeps the previous
health), and the report told to the ProcessActor (`HealthObserved`), stored through the writer
(`RecordHealthCheck`) and given to whoever asked (`CheckHealthNow`). The next periodic check is
a scheduler timer started when the previous one finished, so checks of one run never overlap.

Each watch has a generation: a result or timer of an earlier watch of the same name (the run
was unwatched or replaced) is recognised and ignored.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import pykka

from pm_actors.actors.base import DaemonActor, answer, fail
from pm_actors.actors.delivery import tell_if_alive
from pm_actors.actors.executables import ExecutablePolicy
from pm_actors.actors.health_checks import Cancellation, run_check
from pm_actors.actors.messages import HealthObserved, RecordHealthCheck, Reply
from pm_actors.actors.observer_messages import (
    CheckDue,
    CheckFinished,
    CheckHealthNow,
    CheckKey,
    CheckOutcome,
    CheckOverdue,
    UnwatchHealth,
    WatchHealth,
)
from pm_actors.actors.scheduler import Scheduler, TimerHandle
from pm_actors.errors import InternalError, NotRunning
from pm_actors.results import HealthReport, iso_utc
from pm_actors.specs import HealthCheck
from pm_actors.states import Health

logger = logging.getLogger(__name__)

CHECK_WORKERS = 8
"""Checks run at once: they mostly wait on a socket or a child, and a few hung ones (each held
up to its timeout) should not delay the checks of every other process."""
INITIAL_DELAY_S = 1.0
"""First check of a run after min(interval, this): a server that is up soon shows healthy soon."""
OVERDUE_GRACE_S = 1.0
"""Runners bound themselves by timeout_s; past timeout_s plus this, a check is reported failed
anyway. It catches only what a runner cannot bound (a name lookup, a server dribbling its
answer), so it is generous enough never to race a runner that keeps its deadline."""
MIN_INTERVAL_S = 0.01
"""A floor on the interval, so that a zero or negative one cannot make the chain a busy loop."""


@dataclass
class PendingCheck:
    periodic: bool
    replies: list[Reply] = field(default_factory=list)


@dataclass
class Watch:
    """One watched run and what its checks have shown so far."""

    request: WatchHealth
    generation: int
    health: Health = Health.UNKNOWN
    consecutive_failures: int = 0
    timer: TimerHandle | None = None
    pending: dict[int, PendingCheck] = field(default_factory=dict)
    """Checks whose result is still wanted, by sequence number."""
    stuck: set[int] = field(default_factory=set)
    """Checks reported overdue whose worker has not returned yet."""

    @property
    def name(self) -> str:
        return self.request.name

    @property
    def check(self) -> HealthCheck:
        return self.request.check


def next_health(previous: Health, failures: int, passed: bool, threshold: int) -> tuple[Health, int]:
    """The health and the count of failures in a row after one more result."""
    if passed:
        return Health.HEALTHY, 0
    failures += 1
    return (Health.UNHEALTHY if failures >= threshold else previous), failures


class HealthActor(DaemonActor):
    """`HealthActor.start(scheduler, writer, executables)`: told WatchHealth / UnwatchHealth / CheckHealthNow;
    tells each watch's `process` HealthObserved and the writer RecordHealthCheck."""

    def __init__(
        self, scheduler: Scheduler, writer: pykka.ActorRef[Any], executables: ExecutablePolicy
    ) -> None:
        """Runs in the thread that starts the actor; the pool is created in `on_start`."""
        super().__init__()
        self._scheduler = scheduler
        self._writer = writer
        self._executables = executables
        self._watches: dict[str, Watch] = {}
        self._generations = itertools.count(1)
        self._sequences = itertools.count(1)
        self._cancellation = Cancellation()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    def on_start(self) -> None:
        """Runs on the actor's thread before the first message."""
        self._pool = concurrent.futures.ThreadPoolExecutor(CHECK_WORKERS, thread_name_prefix="pm-health")

    def on_stop(self) -> None:
        """Runs on the actor's thread. Running command checks are cancelled (they kill their
        child and return at once); nothing waits for a TCP or HTTP check to time out."""
        self._shut_down()
        super().on_stop()

    def handle(self, message: Any) -> None:
        """Runs on the actor's thread, one message at a time."""
        match message:
            case CheckFinished(key, outcome):
                self._on_finished(key, outcome)
            case CheckDue(name, generation):
                self._on_due(name, generation)
            case CheckOverdue(key):
                self._on_overdue(key)
            case WatchHealth():
                self._watch(message)
            case UnwatchHealth(name):
                self._unwatch(name, "its run is no longer watched")
            case CheckHealthNow(name, reply):
                self._check_now(name, reply)
            case _:
                logger.error("unexpected message %r", message)

    # Requests ------------------------------------------------------------------------------

    def _watch(self, request: WatchHealth) -> None:
        self._unwatch(request.name, "its run was replaced")
        watch = Watch(request=request, generation=next(self._generations))
        self._watches[request.name] = watch
        logger.debug("watching %r (run %d) every %g s", request.name, request.run_id, request.interval_s)
        self._schedule(watch, min(request.interval_s, INITIAL_DELAY_S))

    def _unwatch(self, name: str, why: str) -> None:
        watch = self._watches.pop(name, None)
        if watch is None:
            return
        if watch.timer is not None:
            watch.timer.cancel()
        error = NotRunning(f"process {name!r} stopped being health-checked before the check ended: {why}")
        for pending in watch.pending.values():
            for reply in pending.replies:
                fail(reply, error)

    def _check_now(self, name: str, reply: Reply) -> None:
        watch = self._watches.get(name)
        if watch is None:
            raise NotRunning(
                f"process {name!r} has no health check running: it is not running "
                "or was started without health_check"
            )
        self._start_check(watch, PendingCheck(periodic=False, replies=[reply]))

    # Checks --------------------------------------------------------------------------------

    def _on_due(self, name: str, generation: int) -> None:
        watch = self._current_watch(name, generation)
        if watch is None:
            return
        watch.timer = None
        self._start_check(watch, PendingCheck(periodic=True))

    def _start_check(self, watch: Watch, pending: PendingCheck) -> None:
        if self._pool is None:
            raise InternalError("the health check pool is not running")
        key = CheckKey(watch.name, watch.generation, next(self._sequences))
        watch.pending[key.sequence] = pending
        if watch.stuck:
            # Another thread for a check that hangs the same way would only pile up stuck workers.
            detail = "not run: an earlier check of this run is still stuck past its timeout"
            self._complete(watch, key.sequence, CheckOutcome(False, detail, 0.0, time.time()))
            return
        future = self._pool.submit(
            _run_in_worker, watch.check, self._executables, self._cancellation, self._guard(key, watch.check)
        )
        actor = self.actor_ref
        future.add_done_callback(lambda done: _report_back(actor, key, done))

    def _guard(self, key: CheckKey, check: HealthCheck) -> OverdueGuard:
        return OverdueGuard(self._scheduler, self.actor_ref, key, check.timeout_s + OVERDUE_GRACE_S)

    def _on_finished(self, key: CheckKey, outcome: CheckOutcome) -> None:
        watch = self._current_watch(key.name, key.generation)
        if watch is None:
            logger.debug("ignored a late result of %r: its watch ended", key.name)
            return
        watch.stuck.discard(key.sequence)
        self._complete(watch, key.sequence, outcome)

    def _on_overdue(self, key: CheckKey) -> None:
        watch = self._current_watch(key.name, key.generation)
        if watch is None or key.sequence not in watch.pending:
            return
        limit_s = watch.check.timeout_s + OVERDUE_GRACE_S
        logger.warning("health check of %r has not returned after %g s", key.name, limit_s)
        watch.stuck.add(key.sequence)
        detail = f"no result within {limit_s:g} s (timeout {watch.check.timeout_s:g} s): the check is stuck"
        self._complete(watch, key.sequence, CheckOutcome(False, detail, limit_s * 1000, time.time()))

    def _complete(self, watch: Watch, sequence: int, outcome: CheckOutcome) -> None:
        """Report a check's outcome unless it was already reported (overdue), then schedule the
        next periodic check if this was one."""
        pending = watch.pending.pop(sequence, None)
        if pending is None:
            logger.debug("ignored a late result of %r: it was reported overdue", watch.name)
            return
        self._report(watch, outcome, pending.replies)
        if pending.periodic:
            self._schedule(watch, watch.request.interval_s)

    def _report(self, watch: Watch, outcome: CheckOutcome, replies: list[Reply]) -> None:
        request = watch.request
        health, watch.consecutive_failures = next_health(
            watch.health, watch.consecutive_failures, outcome.passed, request.check.failure_threshold
        )
        if health != watch.health:
            logger.info("process %r: health %s -> %s (%s)", watch.name, watch.health, health, outcome.detail)
            watch.health = health
        report = HealthReport(
            name=watch.name,
            healthy=outcome.passed,
            health=health,
            detail=outcome.detail,
            duration_ms=round(outcome.duration_ms, 3),
            checked_at=iso_utc(outcome.finished_at) or "",
            consecutive_failures=watch.consecutive_failures,
        )
        for reply in replies:
            answer(reply, report)
        tell_if_alive(request.process, HealthObserved(request.run_id, report))
        record = RecordHealthCheck(
            request.process_id,
            request.run_id,
            outcome.finished_at,
            outcome.passed,
            outcome.detail,
            report.duration_ms,
        )
        tell_if_alive(self._writer, record, lost_level=logging.WARNING)

    def _schedule(self, watch: Watch, delay_s: float) -> None:
        due = CheckDue(watch.name, watch.generation)
        watch.timer = self._scheduler.tell_later(max(delay_s, MIN_INTERVAL_S), self.actor_ref, due)

    def _current_watch(self, name: str, generation: int) -> Watch | None:
        watch = self._watches.get(name)
        if watch is None or watch.generation != generation:
            return None
        return watch

    def _shut_down(self) -> None:
        for name in list(self._watches):
            self._unwatch(name, "the daemon is shutting down")
        self._cancellation.cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


class OverdueGuard:
    """Armed by the worker when the check really starts (not when it was queued behind
    others), disarmed when it returns; if it fires first, the actor is told `CheckOverdue`."""

    def __init__(
        self, scheduler: Scheduler, actor: pykka.ActorRef[Any], key: CheckKey, limit_s: float
    ) -> None:
        self._scheduler = scheduler
        self._actor = actor
        self._key = key
        self._limit_s = limit_s
        self._timer: TimerHandle | None = None

    def arm(self) -> None:
        self._timer = self._scheduler.tell_later(self._limit_s, self._actor, CheckOverdue(self._key))

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


def _run_in_worker(
    check: HealthCheck, executables: ExecutablePolicy, cancellation: Cancellation, guard: OverdueGuard
) -> CheckOutcome:
    """Runs on a pool thread: the blocking part of one check."""
    guard.arm()
    try:
        return run_check(check, executables, cancellation)
    finally:
        guard.disarm()


def _report_back(
    actor: pykka.ActorRef[Any], key: CheckKey, future: concurrent.futures.Future[CheckOutcome]
) -> None:
    """Runs on the pool thread that finished the check (or, for a check cancelled before it
    started, on the stopping actor's thread, where there is no one left to tell)."""
    if future.cancelled():
        return
    error = future.exception()
    if error is None:
        outcome = future.result()
    else:
        logger.error("health check of %r failed unexpectedly", key.name, exc_info=error)
        outcome = CheckOutcome(False, f"internal error running the check: {error}", 0.0, time.time())
    tell_if_alive(actor, CheckFinished(key, outcome))
