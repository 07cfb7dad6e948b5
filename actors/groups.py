"""GroupActor: named groups of processes, started in order and stopped together.

It owns the groups (loaded at start-up, stored through the writer on every change) and runs the
long operations on them (`group_runs.GroupStart`, `GroupStop`). A group is only a list of
members with an order and a ready condition: every start, wait and stop of a member is a plain
public request (`start_process` with the name alone, `wait_for`, `stop_process`) sent to the
supervisor, whose answer comes back to this actor as a `Settled` message. So groups are no
second state machine for processes, and this actor never blocks: it asks nobody.

Members given inline are declared by the supervisor (`DefineMembers`) before the group keeps
them, so a refused declaration leaves the group unchanged. One operation runs per group at a
time: a second start is refused, a stop takes over from a start under way.

Every hook and handler below runs on this actor's own thread.
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
import pykka

from pm_actors.actors.base import DaemonActor, answer, fail
from pm_actors.actors.delivery import tell_if_alive
from pm_actors.actors.group_plan import group_status, new_members
from pm_actors.actors.group_runs import GroupStart, GroupStop
from pm_actors.actors.messages import (
    Call,
    DefineMembers,
    DeleteGroupData,
    ProcessRemoved,
    Reply,
    SaveGroup,
    Settled,
)
from pm_actors.actors.records import RecordBoard
from pm_actors.api import RequestUnion
from pm_actors.definition import GroupDefinition, MemberDefinition
from pm_actors.errors import AlreadyExists, AlreadyRunning, DaemonUnavailable, InternalError, NotFound
from pm_actors.group_requests import (
    AddToGroup,
    CreateGroup,
    DeleteGroup,
    GroupMember,
    ListGroups,
    RemoveFromGroup,
    StartGroup,
    StopGroup,
)
from pm_actors.group_results import (
    DeletedGroup,
    GroupInfo,
    GroupList,
    GroupMemberState,
    GroupStopped,
    MemberStart,
)
from pm_actors.request_base import Request
from pm_actors.specs import StopStrategy
from pm_actors.states import Health, ProcessState

logger = logging.getLogger(__name__)

Operation = GroupStart | GroupStop


class GroupActor(DaemonActor):
    """Owns the groups; asks nobody (`may_ask` is empty): it tells the supervisor and resumes
    on `Settled`. `tell_supervisor` tells the supervisor a message from any thread."""

    def __init__(
        self,
        tell_supervisor: Callable[[Any], None],
        writer: pykka.ActorRef[Any],
        board: RecordBoard,
        groups: Sequence[GroupDefinition],
    ) -> None:
        super().__init__()
        self._tell_supervisor = tell_supervisor
        self._writer = writer
        self._board = board
        self._groups = {group.name: group for group in groups}
        self._changing: set[str] = set()
        """Groups whose new members the supervisor is declaring: they change once it answers."""
        self._operations: dict[str, Operation] = {}

    def on_stop(self) -> None:
        """Runs on the actor's thread once stopped (first at shutdown): a start or stop under way
        is answered, since no step of it will run any more."""
        stopping = DaemonUnavailable("the daemon is stopping; the group operation was cut short")
        for operation in self._operations.values():
            fail(operation.reply, stopping)
        super().on_stop()

    def handle(self, message: Any) -> Any:
        match message:
            case Call(request, reply):
                HANDLERS[type(request)](self, request, reply)
            case Settled(step, future, _reply):  # if the step fails, the catch-all answers _reply
                step(future)
            case ProcessRemoved(name):
                self._forget_process(name)
            case _:
                raise InternalError(f"the group actor cannot handle {type(message).__name__}")
        return None

    # What group operations use (group_runs.GroupSteps) -------------------------------------

    @property
    def board(self) -> RecordBoard:
        return self._board

    def submit(self, request: RequestUnion) -> Reply:
        reply: Reply = concurrent.futures.Future()
        self._tell_supervisor(Call(request, reply))
        return reply

    def after(self, future: Reply, step: Callable[[Reply], None], reply: Reply) -> None:
        me = self.actor_ref
        future.add_done_callback(lambda settled: tell_if_alive(me, Settled(step, settled, reply)))

    def member_settled(self, group: str, member: MemberStart) -> None:
        logger.info("group %r:%s", group, member.summary())

    # Handlers ------------------------------------------------------------------------------

    def _create_group(self, request: CreateGroup, reply: Reply) -> None:
        if request.name in self._groups or request.name in self._changing:
            raise AlreadyExists(
                f"a group named {request.name!r} exists; add_to_group adds members to it, "
                "delete_group deletes it"
            )
        members = new_members([], request.members)
        group = GroupDefinition(name=request.name, stop_strategy=request.stop_strategy, members=members)
        self._declare_then_keep(request.members, group, reply)

    def _add_to_group(self, request: AddToGroup, reply: Reply) -> None:
        group = self._unchanging(request.group)
        members = new_members(group.members, request.members)
        self._declare_then_keep(request.members, _with_members(group, [*group.members, *members]), reply)

    def _remove_from_group(self, request: RemoveFromGroup, reply: Reply) -> None:
        group = self._unchanging(request.group)
        names = [member.name for member in group.members]
        for name in request.members:
            if name not in names:
                raise NotFound(
                    f"{name!r} is not a member of group {group.name!r} (members: {', '.join(names)})"
                )
        group = _with_members(
            group, [member for member in group.members if member.name not in request.members]
        )
        self._keep(group)
        answer(reply, self._info(group))

    def _delete_group(self, request: DeleteGroup, reply: Reply) -> None:
        group = self._unchanging(request.group)
        if request.stop_members:
            self._begin_stop(
                group, group.stop_strategy, reply, lambda stopped: self._deleted(group, reply, stopped)
            )
            return
        self._check_idle(group.name)
        self._deleted(group, reply, None)

    def _start_group(self, request: StartGroup, reply: Reply) -> None:
        group = self._group(request.group)
        self._check_idle(group.name)
        start = GroupStart(group, request.rollback, self, reply)
        self._operations[group.name] = start
        start.begin()

    def _stop_group(self, request: StopGroup, reply: Reply) -> None:
        group = self._group(request.group)
        self._begin_stop(
            group, request.strategy or group.stop_strategy, reply, lambda stopped: answer(reply, stopped)
        )

    def _list_groups(self, request: ListGroups, reply: Reply) -> None:
        groups = [self._group(request.group)] if request.group else sorted(self._groups.values(), key=_name)
        answer(reply, GroupList(groups=[self._info(group) for group in groups]))

    # Helpers -------------------------------------------------------------------------------

    def _declare_then_keep(self, given: list[GroupMember], group: GroupDefinition, reply: Reply) -> None:
        """Have the supervisor check and declare the given members, then keep `group` as it is."""
        self._changing.add(group.name)
        declared: Reply = concurrent.futures.Future()
        self._tell_supervisor(DefineMembers(list(given), declared))
        self.after(declared, lambda future: self._keep_declared(group, future, reply), reply)

    def _keep_declared(self, group: GroupDefinition, declared: Reply, reply: Reply) -> None:
        self._changing.discard(group.name)
        error = declared.exception()
        if error is not None:
            fail(reply, error)
            return
        self._keep(group)
        answer(reply, self._info(group))

    def _begin_stop(
        self,
        group: GroupDefinition,
        strategy: StopStrategy,
        reply: Reply,
        on_done: Callable[[GroupStopped], None],
    ) -> None:
        running = self._operation(group.name)
        if isinstance(running, GroupStop):
            raise AlreadyRunning(
                f"group {group.name!r} is being stopped by another call; wait for its answer"
            )
        if running is not None:
            running.cancel("stop_group was called while the group was starting")
        stop = GroupStop(group.name, group.members, strategy, self, reply, on_done)
        self._operations[group.name] = stop
        stop.begin()

    def _deleted(self, group: GroupDefinition, reply: Reply, stopped: GroupStopped | None) -> None:
        self._groups.pop(group.name, None)
        self._writer.tell(DeleteGroupData(group.name))
        answer(
            reply,
            DeletedGroup(name=group.name, members=[member.name for member in group.members], stopped=stopped),
        )

    def _forget_process(self, name: str) -> None:
        """A deleted process leaves every group it was in."""
        for group in list(self._groups.values()):
            if any(member.name == name for member in group.members):
                self._keep(_with_members(group, [member for member in group.members if member.name != name]))

    def _keep(self, group: GroupDefinition) -> None:
        self._groups[group.name] = group
        self._writer.tell(SaveGroup(group, time.time()))

    def _group(self, name: str) -> GroupDefinition:
        group = self._groups.get(name)
        if group is None:
            known = ", ".join(sorted(self._groups)) or "none yet; create_group makes one"
            raise NotFound(f"no group named {name!r} (groups: {known})")
        return group

    def _unchanging(self, name: str) -> GroupDefinition:
        """The group, unless another call is adding members to it (its change would be lost)."""
        group = self._group(name)
        if name in self._changing:
            raise AlreadyRunning(
                f"group {name!r} is being changed by another call; try again once it answers"
            )
        return group

    def _operation(self, name: str) -> Operation | None:
        """The start or stop under way on the group, if any (one that has answered is over)."""
        operation = self._operations.get(name)
        if operation is not None and operation.reply.done():
            del self._operations[name]
            return None
        return operation

    def _check_idle(self, name: str) -> None:
        running = self._operation(name)
        if running is not None:
            doing = "started" if isinstance(running, GroupStart) else "stopped"
            raise AlreadyRunning(
                f"group {name!r} is being {doing} by another call; wait for its answer, "
                "or stop_group it to cut a start short"
            )

    def _info(self, group: GroupDefinition) -> GroupInfo:
        members = []
        for member in group.members:
            record = self._board.get(member.name)
            members.append(
                GroupMemberState(
                    name=member.name,
                    order=member.order,
                    ready=member.ready,
                    state=record.state if record else ProcessState.STOPPED,
                    health=record.health if record else Health.UNKNOWN,
                    pid=record.pid if record else None,
                )
            )
        status = group_status(
            [(member, state.state) for member, state in zip(group.members, members, strict=True)]
        )
        return GroupInfo(name=group.name, status=status, stop_strategy=group.stop_strategy, members=members)


def _with_members(group: GroupDefinition, members: list[MemberDefinition]) -> GroupDefinition:
    return msgspec.structs.replace(group, members=members)


def _name(group: GroupDefinition) -> str:
    return group.name


Handler = Callable[[GroupActor, Any, Reply], None]

HANDLERS: dict[type[Request], Handler] = {
    CreateGroup: GroupActor._create_group,
    AddToGroup: GroupActor._add_to_group,
    RemoveFromGroup: GroupActor._remove_from_group,
    DeleteGroup: GroupActor._delete_group,
    StartGroup: GroupActor._start_group,
    StopGroup: GroupActor._stop_group,
    ListGroups: GroupActor._list_groups,
}
"""The GroupActor's handler of each group request (the supervisor forwards them here)."""
