"""The group requests of `pm_actors.api`: a stack of processes declared, started in order and
stopped together. The GroupActor answers them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import msgspec

from pm_actors.group_results import DeletedGroup, GroupInfo, GroupList, GroupStarted, GroupStopped
from pm_actors.request_base import READ_ONLY, Request, ToolAnnotations
from pm_actors.specs import NAME_PATTERN, ProcessName, ProcessSpec, ReadyCondition, StopStrategy

GroupName = Annotated[
    str,
    msgspec.Meta(
        pattern=NAME_PATTERN,
        description="Name of the group: letters, digits, '.', '_' and '-', at most 64.",
    ),
]
MAX_GROUP_MEMBERS = 100
"""Twice the default PM_MAX_PROCESSES: room for a large stack, and a bound on one request."""


class GroupMember(ProcessSpec, frozen=True, kw_only=True):
    """A member of a group: an existing process by `name` alone, or declared inline with the
    fields of start_process (`command`, `args`, ...: stored like start_process would, not
    started). Members of the same `order` start together, once every member of a lower order is
    ready; an omitted order is one more than the highest listed before it, so a plain list
    starts one member after the other. `ready` says when the member is ready (running if
    omitted; `exited` for a one-shot step, which must exit with code 0)."""

    order: Annotated[int, msgspec.Meta(ge=0, le=10_000)] | None = None
    ready: ReadyCondition | None = None


GroupMembers = Annotated[list[GroupMember], msgspec.Meta(min_length=1, max_length=MAX_GROUP_MEMBERS)]


def member_orders(members: Sequence[GroupMember], highest: int = -1) -> list[int]:
    """The order of each member: its own, or one more than the highest before it (`highest`:
    of the members a group had already), so a plain list starts one member after the other."""
    orders = []
    for member in members:
        order = highest + 1 if member.order is None else member.order
        highest = max(highest, order)
        orders.append(order)
    return orders


class CreateGroup(Request, frozen=True, tag="create_group"):
    """Create a named group: a stack of processes that start_group starts in order (each order
    ready before the next) and stop_group stops together. Members given with a `command` are
    declared in the same call, so one call can declare a whole stack; members given by name
    alone must exist. Returns the group with each member's state."""

    result_type = GroupInfo
    annotations = ToolAnnotations(read_only=False, destructive=False, idempotent=False)

    name: GroupName
    members: Annotated[list[GroupMember], msgspec.Meta(max_length=MAX_GROUP_MEMBERS)] = []
    stop_strategy: Annotated[
        StopStrategy,
        msgspec.Meta(
            description="How stop_group stops it by default: reverse (dependants first), parallel, "
            "sequential (in start order)."
        ),
    ] = "reverse"


class AddToGroup(Request, frozen=True, tag="add_to_group"):
    """Add members to a group, after the ones it has (see create_group for a member's fields).
    Returns the group."""

    result_type = GroupInfo
    annotations = ToolAnnotations(read_only=False, destructive=False, idempotent=False)

    group: GroupName
    members: GroupMembers


class RemoveFromGroup(Request, frozen=True, tag="remove_from_group"):
    """Remove members from a group; the processes themselves are left as they are. Returns the group."""

    result_type = GroupInfo
    annotations = ToolAnnotations(read_only=False, destructive=True, idempotent=False)

    group: GroupName
    members: Annotated[list[ProcessName], msgspec.Meta(min_length=1, max_length=MAX_GROUP_MEMBERS)]


class DeleteGroup(Request, frozen=True, tag="delete_group"):
    """Delete a group. Its members keep running and keep their definitions, unless `stop_members`
    asks to stop them first (the group's stop strategy)."""

    result_type = DeletedGroup
    annotations = ToolAnnotations(read_only=False, destructive=True, idempotent=False)

    group: GroupName
    stop_members: bool = False


class StartGroup(Request, frozen=True, tag="start_group"):
    """Start a group in order: the members of the lowest order together, then the next order once
    every one of them is ready, and so on. Members already active are not started again, only
    waited for. On a member that does not become ready (it ends, times out or cannot start) it
    stops there and says which, why, and its last output lines; what runs is left running unless
    `rollback` asks to stop what this call started. Lists each member with its state and how
    long it took to become ready."""

    result_type = GroupStarted
    annotations = ToolAnnotations(read_only=False, destructive=False, idempotent=False)

    group: GroupName
    rollback: Annotated[
        bool, msgspec.Meta(description="On a failure, stop the members this call started.")
    ] = False


class StopGroup(Request, frozen=True, tag="stop_group"):
    """Stop every member of a group, each the usual way (SIGTERM to its process group, SIGKILL
    after its stop timeout): reverse (dependants first, the highest order first), parallel, or
    sequential (in start order). A start_group under way is cut short. Says how each ended."""

    result_type = GroupStopped
    annotations = ToolAnnotations(read_only=False, destructive=True, idempotent=True)

    group: GroupName
    strategy: Annotated[
        StopStrategy | None, msgspec.Meta(description="The group's stop strategy if omitted.")
    ] = None


class ListGroups(Request, frozen=True, tag="list_groups"):
    """List groups with their members' states and each group's status: running (every member
    up), partly_running, stopped, failed (a member crashed or gave up restarting) or empty."""

    result_type = GroupList
    annotations = READ_ONLY

    group: Annotated[
        Annotated[str, msgspec.Meta(pattern=NAME_PATTERN)] | None,
        msgspec.Meta(description="Only this group; every group by default."),
    ] = None


GroupRequest = CreateGroup | AddToGroup | RemoveFromGroup | DeleteGroup | StartGroup | StopGroup | ListGroups
"""The requests the GroupActor answers."""
