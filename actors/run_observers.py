"""The actors that watch a ProcessActor's live run: the MetricsActor samples its resource use
against its limits, the HealthActor runs its health check. Both report back to the process.

Owned by one ProcessActor and used on its thread only; it only tells, never waits.
"""

from __future__ import annotations

from typing import Any

import pykka

from pm_actors.actors.definition_changes import effective_limits
from pm_actors.actors.observer_messages import TrackProcess, UntrackProcess, UnwatchHealth, WatchHealth
from pm_actors.actors.run import ProcessContext
from pm_actors.definition import ProcessDefinition
from pm_actors.specs import Limits


class RunObservers:
    def __init__(
        self, context: ProcessContext, name: str, process_id: int, process: pykka.ActorRef[Any]
    ) -> None:
        self._context = context
        self._name = name
        self._process_id = process_id
        self._process = process

    def observe(self, definition: ProcessDefinition, run_id: int, pid: int) -> None:
        """Start watching a new run: its resources always, its health if it has a check."""
        self.track(definition, run_id, pid)
        self.watch_health(definition, run_id)

    def track(self, definition: ProcessDefinition, run_id: int, pid: int) -> None:
        """Have the MetricsActor sample the run against the limits (replacing an earlier tracking)."""
        message = TrackProcess(self._name, run_id, pid, self.limits(definition), self._process)
        self._context.metrics.tell(message)

    def watch_health(self, definition: ProcessDefinition, run_id: int) -> None:
        """Have the HealthActor check the run on its interval (replacing an earlier watch)."""
        check = definition.health_check
        if check is None:
            self._context.health.tell(UnwatchHealth(self._name))
            return
        interval_s = (check.interval_ms or self._context.config.health_check_interval_ms) / 1000
        self._context.health.tell(
            WatchHealth(self._name, self._process_id, run_id, check, interval_s, self._process)
        )

    def forget(self) -> None:
        """The run ended: nobody watches it any more."""
        self._context.metrics.tell(UntrackProcess(self._name))
        self._context.health.tell(UnwatchHealth(self._name))

    def limits(self, definition: ProcessDefinition) -> Limits:
        return effective_limits(definition, self._context.config)
