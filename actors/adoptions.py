"""The runs a dead daemon left, handed over by the keeper, until each is adopted and ends.

At start the daemon asks the keeper what it holds (`KeeperLink.adopt`): runs still alive, each
with duplicates of its pipes, and the exit statuses of children that ended while no daemon
ran. The supervisor gives each run to its ProcessActor, which carries it on (`take`), and the
actor registers the run's watch (`watch`) so that the child's exit, which the keeper reports
(the child is the keeper's now), reaches it through the IO thread like any other. A held run
nobody claims (it had ended, but the dead daemon did not say so in time) is released.

Thread-safe: ProcessActors register watches from their threads, the keeper link reports
exits from its own.
"""

from __future__ import annotations

import logging
import os
import threading

from pm_actors.actors.child import AdoptedChild
from pm_actors.actors.keeper_link import AdoptedRun, KeeperLink
from pm_actors.actors.pipe_reader import PipeReader, RunWatch

logger = logging.getLogger(__name__)


class Adoptions:
    def __init__(self, link: KeeperLink, pipe_reader: PipeReader) -> None:
        self._link = link
        self._pipe_reader = pipe_reader
        runs, exits = link.adopt()
        self._unclaimed = {run.run_id: run for run in runs}
        self._exits = dict(exits)
        """Exit statuses (by pid) not yet given to a watch."""
        self._watches: dict[int, RunWatch] = {}
        """Watches of adopted children still alive, by pid."""
        self._keeper_gone = False
        self._lock = threading.Lock()
        link.listen(self._on_exit, self._on_keeper_gone)
        if runs:
            logger.info("the keeper held %d runs of a daemon that died: adopting them", len(runs))

    def held_run_ids(self) -> frozenset[int]:
        """The runs the keeper holds: open in the database, but alive, not orphaned."""
        return frozenset(self._unclaimed)

    def take(self, run_id: int) -> AdoptedRun | None:
        with self._lock:
            return self._unclaimed.pop(run_id, None)

    def watch(self, watch: RunWatch) -> None:
        """An adopted run is watched by the IO thread: its exit reaches it from now on (at
        once if the child ended already)."""
        with self._lock:
            status = self._exits.pop(watch.child.pid, None)
            if status is None:
                self._watches[watch.child.pid] = watch
                if not self._keeper_gone:
                    return
        if status is not None:
            self._deliver(watch, status)
        else:
            self._orphan(watch)

    def release_unclaimed(self) -> None:
        """Runs no process claimed: the keeper forgets them, and so do we."""
        with self._lock:
            unclaimed, self._unclaimed = list(self._unclaimed.values()), {}
        for run in unclaimed:
            logger.warning(
                "the keeper held run %d (pid %d), which nothing claims; released", run.run_id, run.pid
            )
            self._link.release(run.run_id)
            for fd in (run.stdout_fd, run.stderr_fd, run.pidfd):
                os.close(fd)

    def _on_exit(self, pid: int, status: int) -> None:
        """Runs on the keeper link's thread."""
        with self._lock:
            watch = self._watches.pop(pid, None)
            if watch is None:
                self._exits[pid] = status
                return
        self._deliver(watch, status)

    def _on_keeper_gone(self) -> None:
        """Runs on the keeper link's thread: no exit status will come any more, so each adopted
        child's pidfd alone says when it ended (`AdoptedChild.keeper_gone`)."""
        with self._lock:
            self._keeper_gone = True
            watches = list(self._watches.values())
        for watch in watches:
            self._orphan(watch)

    def _orphan(self, watch: RunWatch) -> None:
        if isinstance(watch.child, AdoptedChild):
            watch.child.keeper_gone = True
        self._pipe_reader.exited(watch)  # it may have ended already, unheard

    def _deliver(self, watch: RunWatch, status: int) -> None:
        if isinstance(watch.child, AdoptedChild):
            watch.child.exited(status)
        self._pipe_reader.exited(watch)
