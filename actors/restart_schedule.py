"""A process's restart bookkeeping: how many restarts, how many failures in a row, and the one
automatic restart that may be pending.

Owned by one ProcessActor and used on its thread only. `restart_policy.decide` says what to do
after a run ends; this object remembers what was decided and turns a delay into a
`RestartDue` the scheduler tells the actor later. A pending restart is forgotten by bumping a
generation: a `RestartDue` of an older generation arrives stale and is ignored.
"""

from __future__ import annotations

import random
import time
from typing import Any

import pykka

from pm_actors.actors import restart_policy
from pm_actors.actors.messages import RestartDue
from pm_actors.actors.scheduler import Scheduler
from pm_actors.definition import ProcessDefinition
from pm_actors.states import ProcessState


class RestartSchedule:
    def __init__(self, scheduler: Scheduler, actor: pykka.ActorRef[Any], restarts: int = 0) -> None:
        self._scheduler = scheduler
        self._actor = actor
        self.restarts = restarts
        """Restarts since the latest start_process (automatic ones and restart_process)."""
        self.failures = 0
        """Automatic restarts in a row; reset by a stable run or a start asked for by a client."""
        self.next_restart_at: float | None = None
        """When the pending automatic restart is due (seconds since the epoch), if one is."""
        self._generation = 0

    def after_run(
        self, definition: ProcessDefinition, ended_state: ProcessState, reason: str, duration_s: float
    ) -> restart_policy.RestartDecision:
        """What the restart policy says after a run ended, with the restart it asks for (after
        the backoff delay, or the slow retry out of fatal) scheduled."""
        decision = restart_policy.decide(
            definition, ended_state, reason, duration_s, self.failures, random.random()
        )
        self.failures = decision.failures
        if decision.action == "backoff":
            self.schedule(decision.delay_s)
        elif decision.action == "fatal" and definition.backoff.fatal_retry_s is not None:
            self.schedule(definition.backoff.fatal_retry_s)
        return decision

    def schedule(self, delay_s: float) -> None:
        """Have the actor told `RestartDue` after `delay_s`, replacing any pending restart."""
        self._generation += 1
        self.next_restart_at = time.time() + delay_s
        self._scheduler.tell_later(delay_s, self._actor, RestartDue(self._generation))

    def start_over(self) -> None:
        """start_process: a new series, with no restart counted and none pending."""
        self.restarts = 0
        self.forget_pending()

    def forget_pending(self) -> None:
        """A client took over (start, stop, restart): no automatic restart is due, and the
        failure count starts again."""
        self._generation += 1
        self.next_restart_at = None
        self.failures = 0

    def take_due(self, generation: int, out_of_fatal: bool) -> bool:
        """Whether a `RestartDue` is the pending restart; then it is no longer pending and
        counts as a restart. The slow retry out of fatal starts a fresh series of failures."""
        if generation != self._generation:
            return False
        self.next_restart_at = None
        self.restarts += 1
        if out_of_fatal:
            self.failures = 0
        return True
