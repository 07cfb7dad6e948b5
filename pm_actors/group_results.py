"""What the group tools answer: a group and its members' states, and how a start or a stop of
a whole group went, member by member. Each result has a `summary()` that renders all of it:
every field a program could read is there for the model to read too."""

from __future__ import annotations

from typing import Literal

import msgspec

from pm_actors.log_results import LogLine, render_lines
from pm_actors.results import number
from pm_actors.specs import ReadyCondition, StopStrategy
from pm_actors.states import ACTIVE_STATES, Health, ProcessState

GroupStatus = Literal["running", "partly_running", "stopped", "failed", "empty"]
MemberOutcome = Literal["started", "already_running", "failed", "not_ready", "not_started"]
"""How start_group left a member: started and ready; already active and ready; did not become
ready (the cause is in `detail`); not ready yet when another member failed; never reached."""


class GroupMemberState(msgspec.Struct, kw_only=True):
    """A member of a group: its place in the order, when it is ready, and its process's state."""

    name: str
    order: int
    ready: ReadyCondition
    state: ProcessState
    health: Health
    pid: int | None

    def summary(self) -> str:
        pid = f" (pid {self.pid})" if self.pid is not None else ""
        return (
            f"  order {self.order} {self.name}: {self.state.value}{pid}, health {self.health.value}; "
            f"ready when {self.ready.describe()} (within {number(self.ready.timeout_s)} s)"
        )


class GroupInfo(msgspec.Struct, kw_only=True):
    """A group, its members in start order, and their states summed up in `status`."""

    name: str
    status: GroupStatus
    stop_strategy: StopStrategy
    members: list[GroupMemberState]

    def summary(self) -> str:
        head = (
            f"group {self.name}: {self.status.replace('_', ' ')}, {len(self.members)} members, "
            f"stop strategy {self.stop_strategy}"
        )
        return "\n".join([head, *(member.summary() for member in self.members)])


class GroupList(msgspec.Struct, kw_only=True):
    groups: list[GroupInfo]

    def summary(self) -> str:
        return "\n".join(group.summary() for group in self.groups) or "No groups."


class MemberStart(msgspec.Struct, kw_only=True):
    """What start_group did with one member."""

    name: str
    order: int
    outcome: MemberOutcome
    state: ProcessState
    pid: int | None
    ready_ms: float | None
    """From this call asking for the member (its start, or a look at it already active) until ready."""
    detail: str
    """What showed it ready (the matched line, the port), or why it did not become ready."""

    def summary(self) -> str:
        text = f"  order {self.order} {self.name}: {self.outcome.replace('_', ' ')}"
        if self.ready_ms is not None:
            text += f", ready in {number(self.ready_ms)} ms"
        if self.detail:
            text += f" ({self.detail})"
        pid = f" (pid {self.pid})" if self.pid is not None else ""
        return f"{text}; now {self.state.value}{pid}"


class GroupStarted(msgspec.Struct, kw_only=True):
    """The outcome of start_group: every member, and on a failure which one, why and its last lines."""

    group: str
    ok: bool
    elapsed_ms: float
    members: list[MemberStart]
    failed_member: str | None = None
    reason: str | None = None
    last_lines: list[LogLine] = []
    """The failed member's newest output lines."""
    rolled_back: list[str] = []
    """Members this call started and then stopped, as `rollback` asked."""

    def summary(self) -> str:
        took = f"{number(self.elapsed_ms)} ms"
        if self.ok:
            head = f"group {self.group} started in {took}: {len(self.members)} members ready"
        elif self.failed_member is None:
            head = f"group {self.group}: start cut short after {took}: {self.reason}"
        else:
            head = f"group {self.group}: start stopped at {self.failed_member} after {took}: {self.reason}"
        lines = [head, *(member.summary() for member in self.members)]
        if self.last_lines:
            lines.append(f"last lines of {self.failed_member}:")
            lines.append(render_lines(self.last_lines))
        if self.rolled_back:
            lines.append(f"rolled back (stopped): {', '.join(self.rolled_back)}")
        return "\n".join(lines)


class MemberStop(msgspec.Struct, kw_only=True):
    """How stop_group ended one member."""

    name: str
    order: int
    was: ProcessState
    """Its state when the stop was asked for."""
    state: ProcessState
    stop_ms: float
    detail: str
    """Why its run ended (e.g. `stopped on request`, with SIGKILL if it came to that), or the error."""
    exit_code: int | None = None
    exit_signal: str | None = None

    def summary(self) -> str:
        was = f"was {self.was.value}" if self.was in ACTIVE_STATES else f"was not running ({self.was.value})"
        how = f", killed by {self.exit_signal}" if self.exit_signal else ""
        how += f", exit code {self.exit_code}" if self.exit_code is not None else ""
        detail = f" ({self.detail})" if self.detail else ""
        took = f"{number(self.stop_ms)} ms"
        return f"  order {self.order} {self.name}: {was}; {self.state.value} after {took}{how}{detail}"


class GroupStopped(msgspec.Struct, kw_only=True):
    """The outcome of stop_group: each member in the order it was stopped."""

    group: str
    strategy: StopStrategy
    elapsed_ms: float
    members: list[MemberStop]

    def summary(self) -> str:
        head = f"group {self.group} stopped ({self.strategy}) in {number(self.elapsed_ms)} ms"
        return "\n".join([head, *(member.summary() for member in self.members)])


class DeletedGroup(msgspec.Struct, kw_only=True):
    name: str
    members: list[str]
    """Its members when deleted: their processes and definitions stay."""
    stopped: GroupStopped | None = None
    """How its members were stopped, when `stop_members` asked for it."""

    def summary(self) -> str:
        kept = "stopped" if self.stopped else "left as they are"
        text = f"Deleted group {self.name}; its members ({', '.join(self.members) or 'none'}) are {kept}."
        return text if self.stopped is None else f"{text}\n{self.stopped.summary()}"
