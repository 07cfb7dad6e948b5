"""Messages to the observers of a run, the HealthActor and the MetricsActor, from the actors,
their timers and the health check workers (the rest are in `messages.py`)."""

from __future__ import annotations

import msgspec

from pm_actors.actors.messages import ActorRef, Asked, Reply
from pm_actors.specs import HealthCheck, Limits

# Messages to the HealthActor.


class WatchHealth(msgspec.Struct, frozen=True):
    """Check this run on an interval until `UnwatchHealth`; results go to `process`."""

    name: str
    process_id: int
    run_id: int
    check: HealthCheck
    interval_s: float
    process: ActorRef
    """The ProcessActor's ref, told `HealthObserved` after each check."""


class UnwatchHealth(msgspec.Struct, frozen=True):
    name: str


class CheckHealthNow(msgspec.Struct, frozen=True):
    """check_process_health: run the check at once; the reply gets a HealthReport."""

    name: str
    reply: Reply


# Messages to the MetricsActor.


class TrackProcess(msgspec.Struct, frozen=True):
    """Sample this run (its pid and whole child tree) until `UntrackProcess`; breaches go to `process`."""

    name: str
    run_id: int
    pid: int
    limits: Limits
    process: ActorRef
    """The ProcessActor's ref, told `LimitBreached`."""


class UntrackProcess(msgspec.Struct, frozen=True):
    name: str


class ProcessStatsQuery(msgspec.Struct, frozen=True):
    """The reply gets a fresh ProcessStats of the tracked run, or fails with NotRunning."""

    name: str
    reply: Reply


class SystemStatsQuery(msgspec.Struct, frozen=True):
    reply: Reply
    managed_processes: int
    running_processes: int


class ListeningPorts(Asked, frozen=True):
    """Asked: the TCP ports the tracked run's tree listens on (empty if not tracked)."""

    name: str


class LastMemory(Asked, frozen=True):
    """Asked when a run was killed: the tree's memory (MB) at its last sample, or None."""

    name: str


class SampleTick(msgspec.Struct, frozen=True):
    """Scheduler -> MetricsActor: time for a sampling pass."""


# Messages to the HealthActor from its own timers and worker threads.


class CheckOutcome(msgspec.Struct, frozen=True):
    """One finished check as measured by the worker that ran it."""

    passed: bool
    detail: str
    duration_ms: float
    finished_at: float
    """Seconds since the epoch."""


class CheckKey(msgspec.Struct, frozen=True):
    """Which check of which watch a result or guard belongs to."""

    name: str
    generation: int
    sequence: int


class CheckDue(msgspec.Struct, frozen=True):
    """Scheduler -> HealthActor: time for the next periodic check of this watch."""

    name: str
    generation: int


class CheckFinished(msgspec.Struct, frozen=True):
    """Worker thread -> HealthActor: a check returned."""

    key: CheckKey
    outcome: CheckOutcome


class CheckOverdue(msgspec.Struct, frozen=True):
    """Scheduler -> HealthActor: a check has not returned by its timeout plus the grace."""

    key: CheckKey
