"""The pure plan of a group: start waves, stop strategies, new members' orders, readiness and
status, checked without a process (properties with hypothesis, cases by hand)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pm_actors.actors.group_plan import (
    group_status,
    is_ready,
    new_members,
    not_ready_reason,
    ready_detail,
    start_waves,
    stop_waves,
)
from pm_actors.definition import MemberDefinition
from pm_actors.errors import AlreadyExists, InvalidArgument
from pm_actors.group_requests import GroupMember
from pm_actors.log_results import LogLine
from pm_actors.results import ProcessRecord, RunSummary, WaitResult
from pm_actors.specs import RUNNING, ReadyCondition
from pm_actors.states import Health, ProcessState

ORDERS = st.lists(st.integers(min_value=0, max_value=5), max_size=12)


def members_with(orders: list[int]) -> list[MemberDefinition]:
    return [
        MemberDefinition(name=f"m{index}", order=order, ready=RUNNING) for index, order in enumerate(orders)
    ]


def names(waves: list[list[MemberDefinition]]) -> list[list[str]]:
    return [[member.name for member in wave] for wave in waves]


@given(ORDERS)
def test_start_waves_hold_every_member_once_one_order_each_lowest_first_in_listing_order(
    orders: list[int],
) -> None:
    members = members_with(orders)
    waves = start_waves(members)
    assert sorted(member.name for wave in waves for member in wave) == sorted(m.name for m in members)
    wave_orders = [{member.order for member in wave} for wave in waves]
    assert all(len(orders_of_wave) == 1 for orders_of_wave in wave_orders)
    firsts = [wave[0].order for wave in waves]
    assert firsts == sorted(set(firsts))
    for wave in waves:
        positions = [members.index(member) for member in wave]
        assert positions == sorted(positions)


@given(ORDERS)
def test_a_reverse_stop_is_the_start_backwards_and_sequential_the_start_one_by_one(orders: list[int]) -> None:
    members = members_with(orders)
    waves = start_waves(members)
    assert stop_waves(members, "reverse") == waves[::-1]
    assert stop_waves(members, "sequential") == [[member] for wave in waves for member in wave]
    assert stop_waves(members, "parallel") == ([members] if members else [])


@given(st.lists(st.one_of(st.none(), st.integers(min_value=0, max_value=5)), max_size=10))
def test_an_omitted_order_comes_after_every_member_listed_before_it(orders: list[int | None]) -> None:
    given_members = [GroupMember(name=f"m{index}", order=order) for index, order in enumerate(orders)]
    resolved = new_members([], given_members)
    for index, (order, member) in enumerate(zip(orders, resolved, strict=True)):
        if order is None:
            assert all(member.order > earlier.order for earlier in resolved[:index])
        else:
            assert member.order == order


def test_a_plain_list_starts_one_member_after_the_other() -> None:
    resolved = new_members([], [GroupMember(name=name) for name in ("db", "api", "web")])
    assert names(start_waves(resolved)) == [["db"], ["api"], ["web"]]
    assert names(stop_waves(resolved, "reverse")) == [["web"], ["api"], ["db"]]


def test_members_of_one_order_start_together_and_stop_together_in_reverse() -> None:
    resolved = new_members(
        [],
        [
            GroupMember(name="db", order=0),
            GroupMember(name="cache", order=0),
            GroupMember(name="api", order=1),
            GroupMember(name="worker", order=1),
            GroupMember(name="web", order=2),
        ],
    )
    assert names(start_waves(resolved)) == [["db", "cache"], ["api", "worker"], ["web"]]
    assert names(stop_waves(resolved, "reverse")) == [["web"], ["api", "worker"], ["db", "cache"]]
    assert names(stop_waves(resolved, "sequential")) == [["db"], ["cache"], ["api"], ["worker"], ["web"]]


def test_added_members_go_after_the_highest_order_and_default_to_ready_when_running() -> None:
    existing = members_with([0, 3])
    added = new_members(existing, [GroupMember(name="late")])
    assert added == [MemberDefinition(name="late", order=4, ready=RUNNING)]


def test_a_member_listed_twice_or_already_in_the_group_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="'db' is listed twice"):
        new_members([], [GroupMember(name="db"), GroupMember(name="db")])
    with pytest.raises(AlreadyExists, match="'m0' is already a member; remove_from_group"):
        new_members(members_with([0]), [GroupMember(name="m0")])


def test_a_log_line_condition_needs_a_valid_pattern_named_by_member() -> None:
    with pytest.raises(InvalidArgument, match="member 'api': invalid argument `pattern`: not a regular"):
        new_members([], [GroupMember(name="api", ready=ReadyCondition(until="log_line", pattern="("))])
    with pytest.raises(InvalidArgument, match=r"member 'api': .*needs a regular expression"):
        new_members([], [GroupMember(name="api", ready=ReadyCondition(until="log_line"))])


def wait_result(until: str, satisfied: bool, state: ProcessState, **fields: object) -> WaitResult:
    return WaitResult(name="m", satisfied=satisfied, until=until, elapsed_ms=5.0, state=state, **fields)  # type: ignore[arg-type]


def record(state: ProcessState, end_reason: str | None) -> ProcessRecord:
    return ProcessRecord(
        name="m",
        state=state,
        pid=None,
        command="python3",
        args=[],
        cwd="/",
        restarts=0,
        exit_code=None,
        started_at=None,
        ended_at=None,
        health=Health.UNKNOWN,
        end_reason=end_reason,
    )


def ended_run(state: ProcessState, reason: str, crash: str | None = None) -> RunSummary:
    return RunSummary(
        run_id=3,
        pid=30,
        started_at=None,
        ended_at=None,
        exit_code=None,
        exit_signal=None,
        end_reason=reason,
        requested_by="start_process",
        end_state=state,
        crash=crash,
    )


def test_a_one_shot_step_is_ready_only_when_its_run_exited_with_code_zero() -> None:
    exited = ReadyCondition(until="exited")
    clean = ended_run(ProcessState.EXITED, "exited on its own with code 0")
    assert is_ready(exited, wait_result("exited", True, ProcessState.BACKOFF, run=clean))  # restart=always
    assert ready_detail(wait_result("exited", True, ProcessState.EXITED, run=clean)) == "exited with code 0"
    quiet = ended_run(ProcessState.CRASHED, "exited on its own with code 3", "exited on its own with code 3")
    crashed = wait_result("exited", True, ProcessState.BACKOFF, run=quiet)
    assert not is_ready(exited, crashed)
    assert (
        not_ready_reason(exited, crashed, None)
        == "crashed, not with exit code 0 (exited on its own with code 3)"
    )
    explained = ended_run(ProcessState.CRASHED, "exited on its own with code 1", "ImportError: no alembic")
    assert not_ready_reason(
        exited, wait_result("exited", True, ProcessState.CRASHED, run=explained), None
    ) == ("crashed, not with exit code 0 (exited on its own with code 1: ImportError: no alembic)")


def test_why_a_member_was_not_ready_says_what_was_awaited_and_how_it_ended() -> None:
    line = ReadyCondition(until="log_line", pattern="listening", timeout_s=2)
    timed_out = wait_result("log_line", False, ProcessState.RUNNING)
    assert not_ready_reason(line, timed_out, None) == (
        "not ready within 2 s (waiting for a log line matching /listening/); it is running"
    )
    ended = wait_result("log_line", False, ProcessState.CRASHED)
    assert not_ready_reason(line, ended, record(ProcessState.CRASHED, "killed by SIGSEGV")) == (
        "crashed before it was ready (killed by SIGSEGV)"
    )
    matched = LogLine(id=1, run_id=1, stream="stdout", ts="t", text="listening on 80")
    assert ready_detail(wait_result("log_line", True, ProcessState.RUNNING, matched_line=matched)) == (
        "line: listening on 80"
    )
    assert ready_detail(wait_result("port", True, ProcessState.RUNNING, port=8080)) == "port 8080"


def test_the_status_of_a_group_sums_up_its_members() -> None:
    one_shot = MemberDefinition(name="migrate", order=1, ready=ReadyCondition(until="exited"))
    server = MemberDefinition(name="web", order=2, ready=RUNNING)
    running, stopped = ProcessState.RUNNING, ProcessState.STOPPED
    assert group_status([]) == "empty"
    assert group_status([(one_shot, ProcessState.EXITED), (server, running)]) == "running"
    assert group_status([(one_shot, ProcessState.EXITED), (server, stopped)]) == "stopped"
    assert group_status([(one_shot, stopped), (server, running)]) == "partly_running"
    assert group_status([(one_shot, ProcessState.CRASHED), (server, running)]) == "failed"
    assert group_status([(one_shot, ProcessState.EXITED), (server, ProcessState.BACKOFF)]) == "failed"
    assert group_status([(server, ProcessState.EXITED)]) == "stopped"
