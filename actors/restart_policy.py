"""When a run that ended on its own is started again, and after how long.

Pure logic, no actor and no clock, so it is tested directly: the ProcessActor asks `decide()`
each time a run ends without having been asked to, and carries out the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pm_actors.definition import ProcessDefinition
from pm_actors.results import HealthReport
from pm_actors.specs import HealthCheck
from pm_actors.states import Health, ProcessState


@dataclass(frozen=True)
class RestartDecision:
    action: Literal["stay", "backoff", "fatal"]
    failures: int
    """Automatic restarts in a row, counting this one: the backoff attempt number."""
    delay_s: float
    reason: str


def decide(
    definition: ProcessDefinition,
    ended_state: ProcessState,
    ended_reason: str,
    run_duration_s: float,
    failures: int,
    random_fraction: float,
) -> RestartDecision:
    """What to do after a run ended in `ended_state` on its own (or was stopped as unhealthy).

    A run that stayed up for `backoff.stable_after_s` resets the count, so a server that
    crashes once a day is never declared fatal; one that dies at once is retried on the
    backoff schedule, never in a tight loop, and given up after `max_restarts` in a row.
    """
    if run_duration_s >= definition.backoff.stable_after_s:
        failures = 0
    if not _policy_restarts(definition, ended_state):
        return RestartDecision("stay", failures, 0.0, ended_reason)
    attempt = failures + 1
    if attempt > definition.max_restarts:
        reason = f"gave up after {definition.max_restarts} restarts in a row; last run {ended_reason}"
        return RestartDecision("fatal", failures, 0.0, reason)
    delay_s = definition.backoff.delay_s(attempt, random_fraction)
    reason = f"restart {attempt} of {definition.max_restarts} in {delay_s:.2f} s; last run {ended_reason}"
    return RestartDecision("backoff", attempt, delay_s, reason)


def _policy_restarts(definition: ProcessDefinition, ended_state: ProcessState) -> bool:
    if ended_state is ProcessState.STOPPED:
        return True  # only reached for a run stopped as unhealthy or over an enforced limit
    if definition.restart == "always":
        return True
    return definition.restart == "on-failure" and ended_state is ProcessState.CRASHED


def restarts_when_unhealthy(check: HealthCheck | None, auto_restart_enabled: bool) -> bool:
    """Whether a run that became unhealthy is stopped and restarted through the backoff: as its
    check says, else as PM_AUTO_RESTART_ENABLED says."""
    if check is None:
        return False
    if check.restart_when_unhealthy is not None:
        return check.restart_when_unhealthy
    return auto_restart_enabled


def stop_for_health(
    report: HealthReport, check: HealthCheck | None, auto_restart_enabled: bool
) -> str | None:
    """Why a health report stops the run (to restart it through the backoff), or None."""
    if report.health is not Health.UNHEALTHY or not restarts_when_unhealthy(check, auto_restart_enabled):
        return None
    return f"unhealthy after {report.consecutive_failures} failed checks: {report.detail}"


def restores(definition: ProcessDefinition) -> bool:
    """Whether a process that was running when the daemon ended is started by the next one: as
    it says, else when it is meant to stay up (restart on-failure or always)."""
    if definition.restore is not None:
        return definition.restore
    return definition.restart in ("on-failure", "always")
