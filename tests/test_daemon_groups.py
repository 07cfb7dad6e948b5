"""Groups in a real daemon: they and their members outlive the daemon, and a process deleted
meanwhile has left its groups for good."""

from __future__ import annotations

import pytest

from pm_actors.api import DeleteProcess
from pm_actors.group_requests import CreateGroup, GroupMember, ListGroups, StartGroup, StopGroup
from pm_actors.group_results import GroupInfo, GroupStarted
from pm_actors.specs import ReadyCondition
from tests.daemon_support import DaemonLauncher
from tests.helpers import python_child

SERVER = "import time\nprint('listening', flush=True)\ntime.sleep(60)"
MIGRATION = "print('migrated')"


def member(name: str, code: str, **fields: object) -> GroupMember:
    command, args = python_child(code)
    return GroupMember(name=name, command=command, args=args, cwd="/", **fields)  # type: ignore[arg-type]


@pytest.mark.timeout(60)
def test_groups_and_their_members_survive_a_daemon_restart(daemons: DaemonLauncher) -> None:
    stack = [
        member("db", SERVER, ready=ReadyCondition(until="log_line", pattern="listening", timeout_s=15)),
        member("migrate", MIGRATION, ready=ReadyCondition(until="exited", timeout_s=15)),
        member("web", SERVER, order=5),
        member("scratch", SERVER),
    ]
    with daemons.start().client() as client:
        created: GroupInfo = client.call(CreateGroup(name="stack", members=stack, stop_strategy="parallel"))
        client.call(CreateGroup(name="empty"))
        client.call(DeleteProcess(name="scratch"))
    assert daemons.daemons[0].terminate() == 0

    with daemons.start().client() as client:
        groups = client.call(ListGroups()).groups
        assert [group.name for group in groups] == ["empty", "stack"]
        restored = groups[1]
        assert restored.stop_strategy == "parallel" and restored.status == "stopped"
        assert [(m.name, m.order, m.ready) for m in restored.members] == [
            (m.name, m.order, m.ready) for m in created.members if m.name != "scratch"
        ]
        started: GroupStarted = client.call(StartGroup(group="stack"))
        assert started.ok, started.summary()
        assert [(m.name, m.outcome) for m in started.members] == [
            ("db", "started"),
            ("migrate", "started"),
            ("web", "started"),
        ]
        client.call(StopGroup(group="stack"))
