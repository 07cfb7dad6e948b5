"""The two long operations on a group, driven by the futures they wait on and never blocking.

`GroupStart` goes wave by wave (`group_plan.start_waves`): it asks the supervisor to start each
member of a wave (a member already active is only looked at), then waits for each to be ready
with a `wait_for` of the member's condition; the next wave begins once every member of this one
is ready. The first member that does not become ready ends it: the answer names it, says why
and gives its last lines; with `rollback`, the members this call started are stopped first
(dependants first). `GroupStop` goes wave by wave too (`group_plan.stop_waves`), stopping each
member with a plain stop_process.

Both only send public requests through `GroupSteps.submit` and resume in `GroupSteps.after`
steps, which the GroupActor runs on its own thread: no lock, no blocking ask, so a group
waiting for a member never holds up the supervisor, and the supervisor never waits for a group.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import msgspec

from pm_actors.actors.base import answer
from pm_actors.actors.group_plan import is_ready, not_ready_reason, ready_detail, start_waves, stop_waves
from pm_actors.actors.messages import Reply
from pm_actors.actors.records import RecordBoard
from pm_actors.api import RequestUnion, StartProcess, StopProcess, WaitFor
from pm_actors.definition import GroupDefinition, MemberDefinition
from pm_actors.errors import AlreadyRunning, PmError
from pm_actors.group_results import GroupStarted, GroupStopped, MemberOutcome, MemberStart, MemberStop
from pm_actors.log_results import LogLine
from pm_actors.results import ProcessRecord, WaitResult
from pm_actors.specs import StopStrategy
from pm_actors.states import ACTIVE_STATES, ProcessState


class GroupSteps(Protocol):
    """What an operation needs of the GroupActor that runs it."""

    @property
    def board(self) -> RecordBoard: ...

    def submit(self, request: RequestUnion) -> Reply:
        """Send a public request to the supervisor; its answer comes in the returned future."""
        ...

    def after(self, future: Reply, step: Callable[[Reply], None], reply: Reply) -> None:
        """Run `step(future)` on the GroupActor's thread once `future` is settled; if the step
        fails, `reply` gets the error."""
        ...

    def member_settled(self, group: str, member: MemberStart) -> None:
        """A member of a starting group became ready, or did not: the one place progress is told."""
        ...


@dataclass(frozen=True)
class Failure:
    member: str | None
    """None when another call (stop_group) cut the start short."""
    reason: str
    last_lines: list[LogLine]


class GroupStart:
    """One start_group call, from its first wave to its answer."""

    def __init__(self, group: GroupDefinition, rollback: bool, steps: GroupSteps, reply: Reply) -> None:
        self.reply = reply
        self._group = group
        self._rollback = rollback
        self._steps = steps
        self._waves = start_waves(group.members)
        self._next_wave_index = 0
        self._began = time.monotonic()
        self._asked_at: dict[str, float] = {}
        self._launching: set[str] = set()
        self._started: list[str] = []
        """Members this call started, in the order their starts were answered."""
        self._ready: dict[str, tuple[float, str]] = {}
        """Ready members: how long it took (ms) and what showed it."""
        self._waiting: set[str] = set()
        self._failure: Failure | None = None
        self._rolling_back = False

    def begin(self) -> None:
        self._next_wave()

    def cancel(self, reason: str) -> None:
        """Another call takes the group over: answer now with what is known, starting nothing more."""
        if self._failure is None and not self.reply.done():
            self._failure = Failure(None, reason, [])
            self._answer([])

    def _next_wave(self) -> None:
        if self._next_wave_index == len(self._waves):
            self._answer([])
            return
        wave = self._waves[self._next_wave_index]
        self._next_wave_index += 1
        self._waiting = {member.name for member in wave}
        for member in wave:
            self._ask_for(member)

    def _ask_for(self, member: MemberDefinition) -> None:
        self._asked_at[member.name] = time.monotonic()
        record = self._steps.board.get(member.name)
        if record is not None and record.state in ACTIVE_STATES:
            self._await_ready(member)
            return
        self._launching.add(member.name)
        launched = self._steps.submit(StartProcess(name=member.name))
        self._steps.after(launched, lambda future: self._on_launched(member, future), self.reply)

    def _on_launched(self, member: MemberDefinition, future: Reply) -> None:
        self._launching.discard(member.name)
        error = future.exception()
        if error is None:
            self._started.append(member.name)
        if self._failure is not None:  # another member failed meanwhile
            self._roll_back_once_launched()
        elif isinstance(error, AlreadyRunning):
            # Started meanwhile by someone else (another group, a client): wait for it all the same.
            self._await_ready(member)
        elif error is not None:
            self._fail(member, f"could not be started: {_message(error)}", [])
        else:
            self._await_ready(member)

    def _await_ready(self, member: MemberDefinition) -> None:
        wait = WaitFor(name=member.name, **msgspec.structs.asdict(member.ready))
        self._steps.after(
            self._steps.submit(wait), lambda future: self._on_waited(member, future), self.reply
        )

    def _on_waited(self, member: MemberDefinition, future: Reply) -> None:
        if self._failure is not None:
            return
        error = future.exception()
        if error is not None:
            self._fail(member, f"could not be waited for: {_message(error)}", [])
            return
        result: WaitResult = future.result()
        if not is_ready(member.ready, result):
            record = self._steps.board.get(member.name)
            self._fail(member, not_ready_reason(member.ready, result, record), result.last_lines)
            return
        took_ms = (time.monotonic() - self._asked_at[member.name]) * 1000
        self._ready[member.name] = (took_ms, ready_detail(result))
        self._steps.member_settled(self._group.name, self._member_start(member))
        self._waiting.discard(member.name)
        if not self._waiting:
            self._next_wave()

    def _fail(self, member: MemberDefinition, reason: str, last_lines: list[LogLine]) -> None:
        self._failure = Failure(member.name, reason, last_lines)
        self._steps.member_settled(self._group.name, self._member_start(member))
        if self._rollback:
            self._roll_back_once_launched()
        else:
            self._answer([])

    def _roll_back_once_launched(self) -> None:
        """Stop what this call started, dependants first, once no start it asked for is pending
        (a member still starting would be left behind)."""
        if not self._rollback or self._rolling_back or self._launching or self.reply.done():
            return
        self._rolling_back = True
        started = set(self._started)
        members = [member for member in self._group.members if member.name in started]
        rollback = GroupStop(self._group.name, members, "reverse", self._steps, self.reply, self._rolled_back)
        rollback.begin()

    def _rolled_back(self, stopped: GroupStopped) -> None:
        self._answer([member.name for member in stopped.members])

    def _answer(self, rolled_back: list[str]) -> None:
        failure = self._failure
        answer(
            self.reply,
            GroupStarted(
                group=self._group.name,
                ok=failure is None,
                elapsed_ms=(time.monotonic() - self._began) * 1000,
                members=[self._member_start(member) for wave in self._waves for member in wave],
                failed_member=failure.member if failure else None,
                reason=failure.reason if failure else None,
                last_lines=failure.last_lines if failure else [],
                rolled_back=rolled_back,
            ),
        )

    def _member_start(self, member: MemberDefinition) -> MemberStart:
        outcome, ready_ms, detail = self._outcome_of(member.name)
        record = self._steps.board.get(member.name)
        return MemberStart(
            name=member.name,
            order=member.order,
            outcome=outcome,
            state=_state_of(record),
            pid=record.pid if record else None,
            ready_ms=ready_ms,
            detail=detail,
        )

    def _outcome_of(self, name: str) -> tuple[MemberOutcome, float | None, str]:
        if name in self._ready:
            took_ms, detail = self._ready[name]
            return ("started" if name in self._started else "already_running"), took_ms, detail
        if self._failure is not None and self._failure.member == name:
            return "failed", None, self._failure.reason
        return ("not_ready" if name in self._asked_at else "not_started"), None, ""


class GroupStop:
    """One stop of a group's members, wave by wave; `on_done` gets the outcome."""

    def __init__(
        self,
        group: str,
        members: Sequence[MemberDefinition],
        strategy: StopStrategy,
        steps: GroupSteps,
        reply: Reply,
        on_done: Callable[[GroupStopped], None],
    ) -> None:
        self.reply = reply
        self._group = group
        self._strategy = strategy
        self._steps = steps
        self._on_done = on_done
        self._waves = stop_waves(members, strategy)
        self._next_wave_index = 0
        self._pending = 0
        self._stopped: list[MemberStop] = []
        self._began = time.monotonic()

    def begin(self) -> None:
        self._next_wave()

    def _next_wave(self) -> None:
        if self._next_wave_index == len(self._waves):
            elapsed_ms = (time.monotonic() - self._began) * 1000
            stopped = GroupStopped(
                group=self._group, strategy=self._strategy, elapsed_ms=elapsed_ms, members=self._stopped
            )
            self._on_done(stopped)
            return
        wave = self._waves[self._next_wave_index]
        self._next_wave_index += 1
        self._pending = len(wave)
        for member in wave:
            self._stop(member)

    def _stop(self, member: MemberDefinition) -> None:
        was = _state_of(self._steps.board.get(member.name))
        asked_at = time.monotonic()
        stopped = self._steps.submit(StopProcess(name=member.name))
        self._steps.after(stopped, lambda future: self._on_stopped(member, was, asked_at, future), self.reply)

    def _on_stopped(
        self, member: MemberDefinition, was: ProcessState, asked_at: float, future: Reply
    ) -> None:
        stop = MemberStop(
            name=member.name,
            order=member.order,
            was=was,
            state=was,
            stop_ms=(time.monotonic() - asked_at) * 1000,
            detail="",
        )
        error = future.exception()
        if error is None:
            record: ProcessRecord = future.result()
            stop.state, stop.detail = record.state, record.end_reason or ""
            stop.exit_code, stop.exit_signal = record.exit_code, record.exit_signal
        else:
            stop.state, stop.detail = _state_of(self._steps.board.get(member.name)), _message(error)
        self._stopped.append(stop)
        self._pending -= 1
        if self._pending == 0:
            self._next_wave()


def _state_of(record: ProcessRecord | None) -> ProcessState:
    """A member's state; one whose record is not on the board yet (just declared) has never run."""
    return record.state if record is not None else ProcessState.STOPPED


def _message(error: BaseException) -> str:
    return error.message if isinstance(error, PmError) else str(error)
