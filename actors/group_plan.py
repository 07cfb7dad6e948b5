"""What a group does, decided apart from doing it: pure functions, tested without processes.

The order members start in (waves: the members of one order together, lowest first), the order
a stop strategy stops them in, the orders and readiness of members being added, what a finished
wait says about a member's readiness, and a group's status from its members' states.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from pm_actors.definition import MemberDefinition
from pm_actors.errors import AlreadyExists, InvalidArgument, PmError
from pm_actors.group_requests import GroupMember, member_orders
from pm_actors.group_results import GroupStatus
from pm_actors.results import ProcessRecord, WaitResult
from pm_actors.specs import RUNNING, ReadyCondition, StopStrategy
from pm_actors.states import ACTIVE_STATES, ENDED_STATES, ProcessState

FAILED_STATES = frozenset({ProcessState.CRASHED, ProcessState.FATAL, ProcessState.BACKOFF})
"""A member in one of these crashed (and may be waiting to restart) or gave up: its group failed."""

Wave = list[MemberDefinition]


def start_waves(members: Sequence[MemberDefinition]) -> list[Wave]:
    """Members grouped by order, lowest first; within a wave, in the order they were listed."""
    ordered = sorted(members, key=lambda member: member.order)  # stable: listing order kept
    return [list(wave) for _, wave in itertools.groupby(ordered, key=lambda member: member.order)]


def stop_waves(members: Sequence[MemberDefinition], strategy: StopStrategy) -> list[Wave]:
    """The waves a stop goes through: reverse (dependants first: the highest order first, each
    order together), parallel (all at once) or sequential (one by one, in start order)."""
    if not members:
        return []
    if strategy == "parallel":
        return [list(members)]
    waves = start_waves(members)
    if strategy == "reverse":
        return waves[::-1]
    return [[member] for wave in waves for member in wave]


def new_members(existing: Sequence[MemberDefinition], given: Sequence[GroupMember]) -> list[MemberDefinition]:
    """The definitions of members added after `existing`: each named once, its readiness
    checked, and an omitted order one more than the highest order listed before it (so a plain
    list starts one member after the other, in turn)."""
    names = {member.name for member in existing}
    orders = member_orders(given, max((member.order for member in existing), default=-1))
    added: list[MemberDefinition] = []
    for member, order in zip(given, orders, strict=True):
        if member.name in names:
            if any(earlier.name == member.name for earlier in added):
                raise InvalidArgument(f"invalid argument `members`: {member.name!r} is listed twice")
            raise AlreadyExists(
                f"{member.name!r} is already a member; remove_from_group it first to change its order "
                "or readiness"
            )
        names.add(member.name)
        ready = member.ready or RUNNING
        try:
            ready.compiled_pattern()
        except PmError as error:
            raise InvalidArgument(f"member {member.name!r}: {error.message}") from None
        added.append(MemberDefinition(name=member.name, order=order, ready=ready))
    return added


def is_ready(condition: ReadyCondition, result: WaitResult) -> bool:
    """Whether a finished wait found the member ready: a one-shot step's run must have exited with 0."""
    if condition.until != "exited":
        return result.satisfied
    return result.satisfied and result.run is not None and result.run.end_state is ProcessState.EXITED


def _how(reason: str | None, crash: str | None) -> str:
    """` (why it ended: what explains it)`, the explanation left out when it says the same."""
    if not reason:
        return f" ({crash})" if crash else ""
    return f" ({reason}: {crash})" if crash and crash != reason else f" ({reason})"


def ready_detail(result: WaitResult) -> str:
    """What showed a member ready, for its line in the answer."""
    if result.matched_line is not None:
        return f"line: {result.matched_line.text}"
    if result.until == "exited":
        return "exited with code 0"
    return f"port {result.port}" if result.port is not None else ""


def not_ready_reason(condition: ReadyCondition, result: WaitResult, record: ProcessRecord | None) -> str:
    """Why a finished wait did not find the member ready, in words a model can act on."""
    run = result.run
    if result.satisfied and run is not None:  # a one-shot step's run ended, but not with 0
        ended = run.end_state.value if run.end_state else "ended"
        return f"{ended}, not with exit code 0{_how(run.end_reason, run.crash)}"
    how = _how(record.end_reason, record.crash) if record is not None else ""
    if result.state in ENDED_STATES:
        return f"{result.state.value} before it was ready{how}"
    waited = f"{condition.timeout_s:g} s"
    reason = f"not ready within {waited} (waiting for {condition.describe()}); it is {result.state.value}"
    if condition.until == "healthy":
        reason += " (only a process with a health check becomes healthy: configure_process adds one)"
    return reason


def group_status(members: Sequence[tuple[MemberDefinition, ProcessState]]) -> GroupStatus:
    """The status of a group from its members' states: running when every member is up (a
    one-shot step counts once it has exited), failed when one crashed or gave up, partly
    running when some run, stopped when none does."""
    if not members:
        return "empty"
    if all(_is_up(member, state) for member, state in members):
        return "running"
    if any(state in FAILED_STATES for _, state in members):
        return "failed"
    if any(state in ACTIVE_STATES for _, state in members):
        return "partly_running"
    return "stopped"


def _is_up(member: MemberDefinition, state: ProcessState) -> bool:
    return state is ProcessState.RUNNING or (state is ProcessState.EXITED and member.ready.until == "exited")
