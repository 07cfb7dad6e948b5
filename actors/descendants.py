"""Which processes belong to a run, wherever they went: pure decisions over a process table.

A signal to a run's process group misses what left it: a grandchild that called setsid, the
last process of a double fork, a daemon. The daemon is a child subreaper (`child.py`), so
such an orphan is re-parented to the daemon rather than to init; and each run's environment
carries a marker (`RUN_MARKER_VARIABLE`: which database, which run), which its descendants
inherit. A run's processes are then:

- its leader and everything below it by parent pid;
- every process still in the leader's session or process group (a double fork that did not
  call setsid keeps both);
- every orphan the daemon adopted whose environment carries the run's marker, and everything
  below it (a daemonised grandchild of a leader that is still alive, or already gone).

A descendant that leaves the session, is orphaned and also clears its environment cannot be
told apart from another run's: it is stopped when the daemon stops (every adopted orphan is).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from pm_actors.actors.sampling import ProcessTable

RUN_MARKER_VARIABLE = "PMACTORS_RUN"
"""Set in every run's environment (after the client's own variables, so it cannot be forged
through start_process); not a PM_* name, since those are the daemon's and never passed on."""


class RunMarkers:
    """The marker of each run: unique per database file on this machine, so a daemon recovering
    from a crash never mistakes another daemon's run (their run ids overlap) for its own."""

    def __init__(self, database_identity: str) -> None:
        self._prefix = database_identity

    def of(self, run_id: int) -> str:
        return f"{self._prefix}:{run_id}"


def run_processes(
    table: ProcessTable,
    leader: int,
    candidates: Iterable[int],
    belongs: Callable[[int], bool],
    leader_known: bool = True,
) -> set[int]:
    """Every live process of the run led by `leader`, the leader included.

    `candidates` are the processes that may have left the leader's tree (the daemon's adopted
    orphans); `belongs(pid)` says whether one carries the run's marker. `leader_known` is False
    when `leader` may now name a stranger (a dead daemon's run whose leader's pid was reused):
    then only the marker counts."""
    roots: set[int] = set()
    if leader_known:
        roots.update(
            pid
            for pid, entry in table.entries.items()
            if pid == leader or entry.session == leader or entry.process_group == leader
        )
    roots.update(pid for pid in candidates if pid in table.entries and belongs(pid))
    members: set[int] = set()
    pending = list(roots)
    while pending:
        pid = pending.pop()
        if pid not in members:
            members.add(pid)
            pending.extend(table.children(pid))
    return {pid for pid in members if not table.entries[pid].zombie}


def outside_the_group(table: ProcessTable, members: Iterable[int], process_group: int) -> list[int]:
    """The members a signal to `process_group` does not reach: each needs its own."""
    return sorted(pid for pid in members if table.entries[pid].process_group != process_group)
