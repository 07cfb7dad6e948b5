"""Which processes belong to a run: pure decisions over a made-up process table."""

from __future__ import annotations

from pm_actors.actors.descendants import RunMarkers, outside_the_group, run_processes
from pm_actors.actors.sampling import ProcEntry, ProcessTable

DAEMON, LEADER = 10, 100


def entry(ppid: int, session: int, group: int, zombie: bool = False) -> ProcEntry:
    return ProcEntry(ppid=ppid, session=session, start_ticks=1, process_group=group, zombie=zombie)


TABLE = ProcessTable(
    {
        DAEMON: entry(1, 1, 1),
        LEADER: entry(DAEMON, LEADER, LEADER),
        101: entry(LEADER, LEADER, LEADER),  # a child in the group
        102: entry(101, 102, 102),  # a grandchild that called setsid
        103: entry(102, 102, 102),  # and its own child
        104: entry(DAEMON, LEADER, LEADER),  # the end of a double fork, adopted, still in the session
        105: entry(DAEMON, 105, 105),  # a daemon: setsid, double fork, adopted; carries the marker
        106: entry(105, 105, 105),  # its child
        107: entry(101, 107, 107, zombie=True),  # ended, not reaped yet
        200: entry(DAEMON, 200, 200),  # adopted from another run
        300: entry(1, 300, 300),  # a stranger
    }
)
MARKED = {105}


def belongs(pid: int) -> bool:
    return pid in MARKED


def test_a_run_holds_its_tree_its_session_and_group_and_the_adopted_orphans_with_its_marker() -> None:
    members = run_processes(TABLE, LEADER, [104, 105, 200], belongs)
    assert members == {LEADER, 101, 102, 103, 104, 105, 106}


def test_only_the_members_outside_the_group_need_a_signal_of_their_own() -> None:
    members = run_processes(TABLE, LEADER, [104, 105, 200], belongs)
    assert outside_the_group(TABLE, members, LEADER) == [102, 103, 105, 106]


def test_a_leader_whose_pid_may_be_a_stranger_now_counts_only_the_marker() -> None:
    assert run_processes(TABLE, LEADER, TABLE.entries, belongs, leader_known=False) == {105, 106}


def test_the_marker_names_the_database_and_the_run() -> None:
    markers = RunMarkers("803.1f2a")
    assert markers.of(7) == "803.1f2a:7" != RunMarkers("803.1f2b").of(7)
