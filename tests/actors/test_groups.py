"""Groups on a real actor system: real children, a real SQLite file, no socket in between.

Members print `time.time()` when they begin, when they are ready and when they get SIGTERM, so
that the order of events is read from the children themselves, never from sleeps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pm_actors.actors.group_runs import GroupStart
from pm_actors.api import DeleteProcess, ListProcesses, StopProcess, WaitFor
from pm_actors.errors import AlreadyExists, AlreadyRunning, InternalError, InvalidArgument, NotFound
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
from pm_actors.group_results import GroupInfo, GroupStarted, GroupStopped
from pm_actors.specs import ReadyCondition
from pm_actors.states import ProcessState
from tests.actors.system_client import SystemClient
from tests.daemon_support import free_tcp_port
from tests.helpers import python_child, wait_until

ON_SIGTERM = (
    "import signal, sys, time\n"
    "def stop(*_):\n"
    "    print('term', time.time(), flush=True)\n"
    "    sys.exit(0)\n"
    "signal.signal(signal.SIGTERM, stop)\n"
)
SLEEPER = ON_SIGTERM + "print('begin', time.time())\ntime.sleep(60)\n"
SLOW_READY = (
    ON_SIGTERM + "print('begin', time.time())\ntime.sleep(0.3)\nprint('ready', time.time())\ntime.sleep(60)\n"
)
NEVER_READY = "import time\nfor n in range(3): print('still warming up', n)\ntime.sleep(60)\n"


def port_server(port: int) -> str:
    return (
        ON_SIGTERM + "import socket\nprint('begin', time.time())\nserver = socket.socket()\n"
        f"server.bind(('127.0.0.1', {port}))\nserver.listen()\ntime.sleep(60)\n"
    )


def member(name: str, code: str, **fields: Any) -> GroupMember:
    command, args = python_child(code)
    return GroupMember(name=name, command=command, args=args, cwd="/", **fields)


def line_ready(timeout_s: float = 10) -> ReadyCondition:
    return ReadyCondition(until="log_line", pattern="^ready", timeout_s=timeout_s)


BEGUN = ReadyCondition(until="log_line", pattern="^begin")
"""Ready once it handles SIGTERM (it prints `begin` after installing the handler)."""


def printed_at(client: SystemClient, name: str, word: str) -> float:
    """When the member printed `<word> <time>` (it must have)."""
    line = next(line for line in client.all_lines(name) if line.startswith(word + " "))
    return float(line.split()[1])


@pytest.mark.timeout(40)
def test_a_stack_of_three_starts_in_order_each_ready_before_the_next(client: SystemClient) -> None:
    port = free_tcp_port()
    stack = [
        member("db", SLEEPER),
        member("api", SLOW_READY, ready=line_ready()),
        member("web", port_server(port), ready=ReadyCondition(until="port", port=port, timeout_s=10)),
    ]
    created: GroupInfo = client.call(CreateGroup(name="stack", members=stack))
    assert [(m.name, m.order, m.state) for m in created.members] == [
        ("db", 0, ProcessState.STOPPED),
        ("api", 1, ProcessState.STOPPED),
        ("web", 2, ProcessState.STOPPED),
    ]

    started: GroupStarted = client.call(StartGroup(group="stack"))

    assert started.ok, started.summary()
    assert [(m.name, m.outcome, m.state) for m in started.members] == [
        ("db", "started", ProcessState.RUNNING),
        ("api", "started", ProcessState.RUNNING),
        ("web", "started", ProcessState.RUNNING),
    ]
    assert started.members[1].detail.startswith("line: ready") and started.members[2].detail == f"port {port}"
    assert all(m.ready_ms is not None for m in started.members)
    spawned = [client.record(name).started_at or "" for name in ("db", "api", "web")]
    assert spawned == sorted(spawned), "started in order (ISO times to the millisecond)"
    assert printed_at(client, "api", "ready") < printed_at(client, "web", "begin")
    assert client.call(ListGroups()).groups[0].status == "running"


@pytest.mark.timeout(40)
def test_twenty_members_in_four_orders_start_wave_after_wave(client: SystemClient) -> None:
    members = [member(f"m{i:02d}", SLOW_READY, order=i // 5, ready=line_ready()) for i in range(20)]
    client.call(CreateGroup(name="big", members=members))

    started: GroupStarted = client.call(StartGroup(group="big"))

    assert started.ok and [m.outcome for m in started.members] == ["started"] * 20
    for wave in range(1, 4):
        previous_ready = max(
            printed_at(client, f"m{i:02d}", "ready") for i in range((wave - 1) * 5, wave * 5)
        )
        first_begin = min(printed_at(client, f"m{i:02d}", "begin") for i in range(wave * 5, wave * 5 + 5))
        assert previous_ready < first_begin


@pytest.mark.timeout(40)
def test_a_member_that_never_becomes_ready_stops_the_start_with_its_reason_and_last_lines(
    client: SystemClient,
) -> None:
    stack = [
        member("db", SLEEPER),
        member("api", NEVER_READY, ready=line_ready(timeout_s=1)),
        member("web", SLEEPER),
    ]
    client.call(CreateGroup(name="stack", members=stack))

    started: GroupStarted = client.call(StartGroup(group="stack"))

    assert not started.ok and started.failed_member == "api"
    assert started.reason == "not ready within 1 s (waiting for a log line matching /^ready/); it is running"
    assert [line.text for line in started.last_lines] == [f"still warming up {n}" for n in range(3)]
    assert [(m.name, m.outcome) for m in started.members] == [
        ("db", "started"),
        ("api", "failed"),
        ("web", "not_started"),
    ]
    assert "still warming up 2" in started.summary() and "start stopped at api" in started.summary()
    assert client.record("db").state is ProcessState.RUNNING, "what runs is left running"
    assert client.record("web").state is ProcessState.STOPPED
    assert client.call(ListGroups(group="stack")).groups[0].status == "partly_running"


@pytest.mark.timeout(40)
def test_with_rollback_a_failed_start_stops_what_it_started_and_only_that(client: SystemClient) -> None:
    client.start("cache", SLEEPER)
    migrate = "import sys\nprint('no database')\nsys.exit(3)"
    stack = [
        GroupMember(name="cache"),
        member("db", SLEEPER),
        member("api", SLEEPER, order=1),
        member("migrate", migrate, order=1, restart="never", ready=ReadyCondition(until="exited")),
    ]
    client.call(CreateGroup(name="stack", members=stack))

    started: GroupStarted = client.call(StartGroup(group="stack", rollback=True))

    assert not started.ok and started.failed_member == "migrate"
    assert started.reason == "crashed, not with exit code 0 (exited on its own with code 3)"
    assert [line.text for line in started.last_lines] == ["no database"]
    assert sorted(started.rolled_back) == ["api", "db", "migrate"]
    states = {name: client.record(name).state for name in ("cache", "db", "api")}
    assert states == {"cache": ProcessState.RUNNING, "db": ProcessState.STOPPED, "api": ProcessState.STOPPED}


@pytest.mark.timeout(40)
def test_a_member_that_cannot_be_spawned_stops_the_start_and_says_why(
    client: SystemClient, short_tmp: Path
) -> None:
    workdir = short_tmp / "app"
    workdir.mkdir()
    command, args = python_child(SLEEPER)
    gone = GroupMember(name="api", command=command, args=args, cwd=str(workdir))
    client.call(CreateGroup(name="stack", members=[member("db", SLEEPER), gone, member("web", SLEEPER)]))
    workdir.rmdir()  # declared while it existed: the spawn itself fails now

    started: GroupStarted = client.call(StartGroup(group="stack"))

    assert not started.ok and started.failed_member == "api"
    assert started.reason is not None and started.reason.startswith("could not be started: could not start")
    assert [(m.name, m.outcome, m.state) for m in started.members] == [
        ("db", "started", ProcessState.RUNNING),
        ("api", "failed", ProcessState.CRASHED),
        ("web", "not_started", ProcessState.STOPPED),
    ]


@pytest.mark.timeout(40)
def test_a_reverse_stop_stops_dependants_first(client: SystemClient) -> None:
    stack = [member(name, SLEEPER, ready=BEGUN) for name in ("db", "api", "web")]
    client.call(CreateGroup(name="stack", members=stack))
    assert client.call(StartGroup(group="stack")).ok

    stopped: GroupStopped = client.call(StopGroup(group="stack"))

    assert stopped.strategy == "reverse"
    assert [(m.name, m.was, m.state) for m in stopped.members] == [
        ("web", ProcessState.RUNNING, ProcessState.STOPPED),
        ("api", ProcessState.RUNNING, ProcessState.STOPPED),
        ("db", ProcessState.RUNNING, ProcessState.STOPPED),
    ]
    assert all(m.detail == "stopped on request" and m.exit_code == 0 for m in stopped.members)
    terms = [printed_at(client, name, "term") for name in ("web", "api", "db")]
    assert terms == sorted(terms) and len(set(terms)) == 3
    assert client.call(ListGroups()).groups[0].status == "stopped"


@pytest.mark.timeout(40)
def test_a_sequential_stop_goes_in_start_order_and_says_who_was_not_running(client: SystemClient) -> None:
    stack = [member(name, SLEEPER, ready=BEGUN) for name in ("db", "api", "web")]
    client.call(CreateGroup(name="stack", members=stack, stop_strategy="sequential"))
    client.call(StartGroup(group="stack"))
    client.call(StopProcess(name="api"))

    stopped: GroupStopped = client.call(StopGroup(group="stack"))

    assert [(m.name, m.was) for m in stopped.members] == [
        ("db", ProcessState.RUNNING),
        ("api", ProcessState.STOPPED),
        ("web", ProcessState.RUNNING),
    ]
    assert "api: was not running (stopped)" in stopped.summary()
    terms = [printed_at(client, name, "term") for name in ("db", "web")]
    assert terms == sorted(terms)


@pytest.mark.timeout(40)
def test_members_already_running_are_waited_for_not_started_again(client: SystemClient) -> None:
    first = client.start("api", SLOW_READY)
    client.call(CreateGroup(name="stack", members=[GroupMember(name="api", ready=line_ready())]))

    started: GroupStarted = client.call(StartGroup(group="stack"))

    assert started.ok and started.members[0].outcome == "already_running"
    assert started.members[0].pid == first.pid and started.members[0].detail.startswith("line: ready")


@pytest.mark.timeout(40)
def test_a_second_start_is_refused_and_a_stop_cuts_a_start_short(client: SystemClient) -> None:
    client.call(CreateGroup(name="stack", members=[member("api", NEVER_READY, ready=line_ready(30))]))
    starting = client.system.submit(StartGroup(group="stack"))
    wait_until(lambda: client.record("api").state is ProcessState.RUNNING, message="api to run")
    with pytest.raises(AlreadyRunning, match="group 'stack' is being started by another call"):
        client.call(StartGroup(group="stack"))

    stopped: GroupStopped = client.call(StopGroup(group="stack"))

    cut: GroupStarted = starting.result(timeout=10)
    assert not cut.ok and cut.failed_member is None
    assert cut.reason == "stop_group was called while the group was starting"
    assert cut.members[0].outcome == "not_ready" and "start cut short" in cut.summary()
    assert stopped.members[0].state is ProcessState.STOPPED


@pytest.mark.timeout(40)
def test_a_failing_step_answers_internal_and_the_group_can_start_again(
    client: SystemClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    client.call(CreateGroup(name="stack", members=[member("api", SLEEPER)]))

    def broken(*args: Any) -> None:
        raise RuntimeError("injected failure")

    monkeypatch.setattr(GroupStart, "_on_waited", broken)
    with pytest.raises(InternalError, match="injected failure"):
        client.call(StartGroup(group="stack"))
    monkeypatch.undo()
    assert client.call(StartGroup(group="stack")).members[0].outcome == "already_running"


@pytest.mark.timeout(40)
def test_membership_changes_and_a_deleted_process_leaves_its_groups(client: SystemClient) -> None:
    client.call(CreateGroup(name="stack", members=[member("db", SLEEPER), member("api", SLEEPER)]))
    client.call(CreateGroup(name="other", members=[GroupMember(name="api")]))
    added: GroupInfo = client.call(AddToGroup(group="stack", members=[member("web", SLEEPER, order=7)]))
    assert [(m.name, m.order) for m in added.members] == [("db", 0), ("api", 1), ("web", 7)]

    removed: GroupInfo = client.call(RemoveFromGroup(group="stack", members=["db"]))
    assert [m.name for m in removed.members] == ["api", "web"]
    client.call(DeleteProcess(name="api"))

    groups = {group.name: [m.name for m in group.members] for group in client.call(ListGroups()).groups}
    assert groups == {"other": [], "stack": ["web"]}
    assert client.record("db").state is ProcessState.STOPPED, "removing a member keeps its process"


@pytest.mark.timeout(40)
def test_bad_groups_and_members_are_refused_with_what_to_do_and_change_nothing(client: SystemClient) -> None:
    client.call(CreateGroup(name="stack"))
    with pytest.raises(AlreadyExists, match="a group named 'stack' exists; add_to_group"):
        client.call(CreateGroup(name="stack"))
    with pytest.raises(NotFound, match=r"no process named 'ghost' is stored.*give `command`"):
        client.call(CreateGroup(name="new", members=[member("db", SLEEPER), GroupMember(name="ghost")]))
    client.start("api", SLEEPER)
    with pytest.raises(AlreadyRunning, match="process 'api' is running: its definition cannot be replaced"):
        client.call(AddToGroup(group="stack", members=[member("api", SLEEPER)]))
    with pytest.raises(InvalidArgument, match="invalid argument `restart`: group member 'api' given without"):
        client.call(AddToGroup(group="stack", members=[GroupMember(name="api", restart="never")]))
    with pytest.raises(NotFound, match="no group named 'nope' \\(groups: stack\\)"):
        client.call(StartGroup(group="nope"))
    with pytest.raises(NotFound, match="'web' is not a member of group 'stack'"):
        client.call(RemoveFromGroup(group="stack", members=["web"]))

    assert [group.name for group in client.call(ListGroups()).groups] == ["stack"]
    assert client.call(ListGroups()).groups[0].members == []
    assert "db" not in {record.name for record in client.call(ListProcesses()).processes}


@pytest.mark.timeout(40)
def test_delete_group_leaves_members_running_unless_asked_to_stop_them(client: SystemClient) -> None:
    client.call(CreateGroup(name="a", members=[member("db", SLEEPER)]))
    client.call(CreateGroup(name="b", members=[GroupMember(name="db")]))
    client.call(StartGroup(group="a"))

    kept = client.call(DeleteGroup(group="a"))
    assert kept.stopped is None and client.record("db").state is ProcessState.RUNNING
    stopped = client.call(DeleteGroup(group="b", stop_members=True))
    assert stopped.stopped is not None and stopped.stopped.members[0].state is ProcessState.STOPPED
    assert client.call(ListGroups()).groups == []
    assert client.call(WaitFor(name="db", until="exited", timeout_s=5)).state is ProcessState.STOPPED
