"""The command line's stack commands: `up` and `down` for the project file, and `group ...`.

`up` makes the project's group match the file and starts it in order: a process the file
declares differently from what is stored is stopped and declared again; one that runs as
declared is left running (start_group waits for it to be ready, as for any member).
"""

from __future__ import annotations

import argparse

import msgspec

from pm_actors.api import GetProcessInfo, RequestUnion, StartProcess, StopProcess, WaitFor
from pm_actors.app.console import EXIT_FAILURE, EXIT_OK, Console, UsageError
from pm_actors.app.project import Project, changed_fields
from pm_actors.errors import NotFound, PmError
from pm_actors.group_requests import (
    AddToGroup,
    CreateGroup,
    DeleteGroup,
    GroupMember,
    ListGroups,
    RemoveFromGroup,
    StartGroup,
    StopGroup,
    member_orders,
)
from pm_actors.group_results import GroupStarted
from pm_actors.results import ProcessInfo
from pm_actors.specs import RUNNING
from pm_actors.states import ACTIVE_STATES


def up(arguments: argparse.Namespace, console: Console, project: Project) -> int:
    selected = _selected(project, arguments.names)
    stored = _stored_definitions(console, project)
    members = [_member_to_declare(console, member, stored.get(member.name)) for member in project.members]
    if _group_exists(console, project.name):
        console.caller.call(DeleteGroup(group=project.name))
    console.caller.call(CreateGroup(name=project.name, members=members, stop_strategy=project.stop_strategy))
    if arguments.names:
        orders = member_orders(project.members)
        rank = {member.name: order for member, order in zip(project.members, orders, strict=True)}
        chosen = [member for member in project.members if member.name in selected]
        return _start_some(console, sorted(chosen, key=lambda member: rank[member.name]))
    started: GroupStarted = console.caller.call(
        StartGroup(group=project.name), waiting=f"bringing up {project.name}"
    )
    console.print(started.summary())
    return EXIT_OK if started.ok else EXIT_FAILURE


def down(arguments: argparse.Namespace, console: Console, project: Project) -> int:
    if arguments.names:
        _selected(project, arguments.names)
        outcomes = console.caller.call_all([StopProcess(name=name) for name in arguments.names])
        return _print_outcomes(console, outcomes)
    console.print(console.caller.call(StopGroup(group=project.name)).summary())
    return EXIT_OK


def _selected(project: Project, names: list[str]) -> set[str]:
    declared = {member.name for member in project.members}
    unknown = [name for name in names if name not in declared]
    if unknown:
        raise UsageError(
            f"{', '.join(unknown)} not declared in {project.path}; it declares {', '.join(declared)}"
        )
    return set(names)


def _stored_definitions(console: Console, project: Project) -> dict[str, ProcessInfo]:
    outcomes = console.caller.call_all([GetProcessInfo(name=member.name) for member in project.members])
    stored = {}
    for member, outcome in zip(project.members, outcomes, strict=True):
        if isinstance(outcome, ProcessInfo):
            stored[member.name] = outcome
        elif not isinstance(outcome, NotFound):
            raise outcome
    return stored


def _member_to_declare(console: Console, member: GroupMember, stored: ProcessInfo | None) -> GroupMember:
    """The member as the group gets it: by name alone when it runs as the file declares it (it
    stays up); declared anew otherwise, after a stop if it runs with another definition."""
    if stored is None or stored.state not in ACTIVE_STATES:
        return member
    changed = changed_fields(member, stored)
    if not changed:
        return GroupMember(name=member.name, order=member.order, ready=member.ready)
    console.print(f"{member.name}: {', '.join(changed)} changed; restarting it")
    console.caller.call(StopProcess(name=member.name))
    return member


def _group_exists(console: Console, name: str) -> bool:
    try:
        console.caller.call(ListGroups(group=name))
    except NotFound:
        return False
    return True


def _start_some(console: Console, members: list[GroupMember]) -> int:
    """Start `members` one after the other, in turn, each ready before the next."""
    for member in members:
        console.print(console.caller.call(StartProcess(name=member.name)).summary())
        ready = member.ready or RUNNING
        request = WaitFor(name=member.name, **msgspec.structs.asdict(ready))
        waited = console.caller.call(request, waiting=f"waiting for {member.name}")
        console.print(waited.summary())
        if not waited.satisfied:
            return EXIT_FAILURE
    return EXIT_OK


def group(arguments: argparse.Namespace, console: Console) -> int:
    action, name = arguments.action, arguments.group
    if action == "ls":
        console.print(console.caller.call(ListGroups(group=name)).summary())
        return EXIT_OK
    if name is None:
        raise UsageError(f"group {action} needs the group's name")
    waiting = f"{action} {name}" if action in ("start", "stop") else None
    result = console.caller.call(_group_request(arguments, name), waiting=waiting)
    console.print(result.summary())
    return EXIT_FAILURE if isinstance(result, GroupStarted) and not result.ok else EXIT_OK


def _group_request(arguments: argparse.Namespace, name: str) -> RequestUnion:
    action = arguments.action
    members = [GroupMember(name=member) for member in arguments.members]
    if action in ("add", "rm") and not members:
        raise UsageError(f"group {action} needs the names of the processes to {action}")
    if action == "create":
        return CreateGroup(name=name, members=members, stop_strategy=arguments.strategy or "reverse")
    if action == "add":
        return AddToGroup(group=name, members=members)
    if action == "rm":
        return RemoveFromGroup(group=name, members=list(arguments.members))
    if action == "delete":
        return DeleteGroup(group=name, stop_members=arguments.stop)
    if action == "start":
        return StartGroup(group=name, rollback=arguments.rollback)
    return StopGroup(group=name, strategy=arguments.strategy)


def _print_outcomes(console: Console, outcomes: list[object]) -> int:
    failed = False
    for outcome in outcomes:
        if isinstance(outcome, PmError):
            failed = True
            console.print_error(f"{outcome.code}: {outcome.message}")
        else:
            console.print(outcome.summary())  # type: ignore[attr-defined]
    return EXIT_FAILURE if failed else EXIT_OK
