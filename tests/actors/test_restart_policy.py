from __future__ import annotations

import pytest

from pm_actors.actors.restart_policy import decide, stop_for_health
from pm_actors.definition import ProcessDefinition
from pm_actors.results import HealthReport
from pm_actors.specs import Backoff, RestartPolicy, TcpCheck
from pm_actors.states import Health, ProcessState

CRASHED = ProcessState.CRASHED
EXITED = ProcessState.EXITED


def definition(
    restart: RestartPolicy = "on-failure", max_restarts: int = 3, **backoff: float
) -> ProcessDefinition:
    settings = {
        "initial_s": 1.0,
        "max_s": 10.0,
        "multiplier": 2.0,
        "jitter": 0.0,
        "stable_after_s": 30.0,
    } | backoff
    return ProcessDefinition(
        name="web",
        command="python",
        executable="/usr/bin/python3",
        args=[],
        cwd="/",
        restart=restart,
        max_restarts=max_restarts,
        backoff=Backoff(**settings),
    )


def test_delays_grow_by_the_multiplier_up_to_the_cap() -> None:
    spec = definition(max_restarts=10)
    failures, delays = 0, []
    for _ in range(6):
        decision = decide(spec, CRASHED, "exited with code 1", 0.1, failures, 0.5)
        assert decision.action == "backoff"
        failures = decision.failures
        delays.append(decision.delay_s)
    assert delays == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_the_process_is_fatal_after_max_restarts_in_a_row() -> None:
    spec = definition(max_restarts=2)
    first = decide(spec, CRASHED, "x", 0.1, 0, 0.5)
    second = decide(spec, CRASHED, "x", 0.1, first.failures, 0.5)
    third = decide(spec, CRASHED, "x", 0.1, second.failures, 0.5)
    assert [first.action, second.action, third.action] == ["backoff", "backoff", "fatal"]
    assert "gave up after 2 restarts in a row" in third.reason


def test_a_run_that_stayed_up_for_the_stable_period_resets_the_count() -> None:
    decision = decide(definition(max_restarts=2), CRASHED, "x", 31.0, 2, 0.5)
    assert decision.action == "backoff" and decision.failures == 1 and decision.delay_s == 1.0


def test_a_run_of_exactly_the_stable_period_is_stable_and_one_just_shorter_is_not() -> None:
    spec = definition(max_restarts=2)
    exactly = decide(spec, CRASHED, "x", 30.0, 2, 0.5)
    shorter = decide(spec, CRASHED, "x", 29.999, 2, 0.5)
    assert exactly.action == "backoff" and exactly.failures == 1
    assert shorter.action == "fatal" and shorter.failures == 2


@pytest.mark.parametrize(
    ("policy", "state", "action"),
    [
        ("never", CRASHED, "stay"),
        ("on-failure", EXITED, "stay"),
        ("on-failure", CRASHED, "backoff"),
        ("always", EXITED, "backoff"),
        ("never", ProcessState.STOPPED, "backoff"),
    ],
)
def test_the_policy_decides_which_endings_restart(
    policy: RestartPolicy, state: ProcessState, action: str
) -> None:
    assert decide(definition(policy), state, "x", 0.1, 0, 0.5).action == action


@pytest.mark.parametrize("random_fraction", [0.0, 0.999])
def test_jitter_varies_the_delay_within_its_fraction(random_fraction: float) -> None:
    delay = decide(definition(jitter=0.2), CRASHED, "x", 0.1, 0, random_fraction).delay_s
    assert 0.8 <= delay <= 1.2


def report(health: Health) -> HealthReport:
    return HealthReport(
        name="web",
        health=health,
        healthy=health is Health.HEALTHY,
        detail="refused",
        consecutive_failures=3,
        checked_at="2024-01-01T00:00:00Z",
        duration_ms=1.0,
    )


def test_only_an_unhealthy_report_stops_the_run_and_only_where_restarts_are_wanted() -> None:
    check = TcpCheck(port=80)
    assert (
        stop_for_health(report(Health.UNHEALTHY), check, True) == "unhealthy after 3 failed checks: refused"
    )
    assert stop_for_health(report(Health.HEALTHY), check, True) is None
    assert stop_for_health(report(Health.UNHEALTHY), check, False) is None
    assert stop_for_health(report(Health.UNHEALTHY), TcpCheck(port=80, restart_when_unhealthy=True), False)
