"""The one seam for OS effects on a child: spawn, signal its whole tree, reap; the subreaper.

Every child gets its own session (and so its own process group, whose id is the child's pid),
no stdin (or a pipe to it, if asked for), two output pipes, and the run's marker in its
environment (`descendants`). We signal the group id we created, never `getpgid()` of a pid
that may have been reused. A pidfd lets the single IO thread learn of the exit through the
same selector that reads the pipes, so no thread waits per child.

What leaves the group (setsid, a double fork, a daemon) is still stopped with its run: the
process running the actors is a child subreaper (`become_subreaper`), so orphans below it are
re-parented to it rather than to init, and `signal_tree` signals each process of the run
outside the group too, through a pidfd opened on it after checking its start time (a pid
reused meanwhile is never signalled). Adopted orphans are ours to reap: `reap_adopted` does,
without ever taking the exit status of a child spawned here (its owner reaps that one), which
is why a process that runs the actors spawns children only through this module.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping, Sequence

import psutil

from pm_actors.actors.descendants import RUN_MARKER_VARIABLE, outside_the_group, run_processes
from pm_actors.actors.sampling import ProcessTable, children_of, read_stat, scan_processes

logger = logging.getLogger(__name__)

PR_SET_CHILD_SUBREAPER = 36
"""prctl option (linux/prctl.h): orphans below this process are re-parented to it."""
ADOPTED_REAP_WAIT_S = 1.0
"""How long a stopping daemon waits for the orphans it killed to end: SIGKILL ends a process at
once unless it is stuck in the kernel, and then init reaps it after the daemon exits."""
UNKNOWN_STATUS = 0
"""The exit status of an adopted child that ended after its keeper went away: nobody can learn
it (only a parent can), so it reads as a plain end; its end reason says so."""
SAME_START_TOLERANCE_S = 2.0
"""A dead daemon's run pid is the same process only if it started when the run did (pids are reused)."""

_spawned: set[int] = set()
"""Pids of the children spawned here and not yet reaped by their owner."""
_spawned_lock = threading.Lock()
"""Held while a child is forked and registered, and while adopted orphans are reaped: a child
that exits at once is never mistaken for an orphan and reaped before its owner sees it."""


def become_subreaper(enabled: bool = True) -> None:
    """Make orphans below this process its children (or stop doing so)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, int(enabled), 0, 0, 0) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(error)}")


class SpawnedChild:
    """A running child: its pid (= its process group id), pipes, pidfd and run marker."""

    status_from_keeper = False

    def __init__(self, popen: subprocess.Popen[bytes], marker: str) -> None:
        if popen.stdout is None or popen.stderr is None:
            raise ValueError("a SpawnedChild needs both output pipes")
        self._popen = popen
        self.pid = popen.pid
        self.process_group = popen.pid
        self.marker = marker
        self.stdout_fd = popen.stdout.fileno()
        self.stderr_fd = popen.stderr.fileno()
        os.set_blocking(self.stdout_fd, False)
        os.set_blocking(self.stderr_fd, False)
        if popen.stdin is not None:
            os.set_blocking(popen.stdin.fileno(), False)
        self.pidfd: int | None = os.pidfd_open(popen.pid)

    def held_fds(self) -> tuple[int, int, int]:
        """What the keeper keeps duplicates of: both output pipes and the pidfd."""
        if self.pidfd is None:
            raise ValueError("the pidfd is closed")
        return self.stdout_fd, self.stderr_fd, self.pidfd

    def signal_tree(self, signal_number: int) -> None:
        """Send a signal to the child's process group and to every process of its run outside it."""
        signal_tree(self.process_group, self.marker, signal_number, leader=self.pid)

    @property
    def has_input(self) -> bool:
        """Whether it was spawned with a pipe to its standard input."""
        return self._popen.stdin is not None

    @property
    def input_open(self) -> bool:
        return self._popen.stdin is not None and not self._popen.stdin.closed

    def write_input(self, data: bytes) -> int:
        """Write what the pipe takes now, without blocking; returns how many bytes that was.
        Raises BrokenPipeError if the child closed its input, ValueError if we did."""
        if self._popen.stdin is None or self._popen.stdin.closed:
            raise ValueError("the input pipe is closed")
        try:
            return os.write(self._popen.stdin.fileno(), data)
        except BlockingIOError:
            return 0

    def close_input(self) -> None:
        """End of file for the child; harmless if there is no pipe or it is closed."""
        if self._popen.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                self._popen.stdin.close()

    def reap(self) -> int | None:
        """The exit status if the child has ended (negative: the signal number), else None."""
        status = self._popen.poll()
        if status is not None:
            forget(self.pid)
        return status

    def close_pidfd(self) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None

    def close_pipe(self, fd: int) -> None:
        """Close one of our pipe ends; Popen's file objects own them, so close those."""
        for stream in (self._popen.stdout, self._popen.stderr):
            if stream is not None and not stream.closed and stream.fileno() == fd:
                stream.close()


class AdoptedChild:
    """A run's child that a dead daemon started, handed over by the keeper with duplicates of
    its pipes and pidfd. It is the keeper's child now: the keeper reaps it and reports its exit
    status (`exited`). Should the keeper go away, the pidfd still says when it ended, though not
    how (`UNKNOWN_STATUS`). It has no input pipe."""

    status_from_keeper = True

    def __init__(self, pid: int, marker: str, stdout_fd: int, stderr_fd: int, pidfd: int) -> None:
        self.pid = pid
        self.process_group = pid
        self.marker = marker
        self.stdout_fd = stdout_fd
        self.stderr_fd = stderr_fd
        self.pidfd: int | None = pidfd
        self.has_input = False
        self.input_open = False
        self.keeper_gone = False
        self._status: int | None = None
        for fd in (stdout_fd, stderr_fd):
            os.set_blocking(fd, False)

    def exited(self, status: int) -> None:
        """The keeper reaped it (Popen's convention: minus the signal number if killed)."""
        self._status = status

    def reap(self) -> int | None:
        if self._status is None and self.keeper_gone and self._ended():
            self._status = UNKNOWN_STATUS
        return self._status

    def _ended(self) -> bool:
        if self.pidfd is None:
            return True
        readable, _, _ = select.select([self.pidfd], [], [], 0)
        return bool(readable)

    def signal_tree(self, signal_number: int) -> None:
        signal_tree(self.process_group, self.marker, signal_number)

    def write_input(self, data: bytes) -> int:
        raise ValueError("an adopted process has no input pipe")

    def close_input(self) -> None:
        """Nothing to close: an adopted process was handed over without its input."""

    def close_pidfd(self) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None

    def close_pipe(self, fd: int) -> None:
        with contextlib.suppress(OSError):
            os.close(fd)


Child = SpawnedChild | AdoptedChild
"""A run's child: spawned here, or adopted from a dead daemon through the keeper."""


def spawn(
    exec_path: str,
    descriptor: int,
    argv: Sequence[str],
    cwd: str,
    env: Mapping[str, str],
    marker: str,
    stdin: bool = False,
) -> SpawnedChild:
    """Start a child in a new session, never through a shell. `exec_path` is
    `/proc/self/fd/<descriptor>` of a checked executable (`executables.ExecPlan`): the
    descriptor is passed through so the exec runs that very file. With `stdin`, it gets a pipe
    to its standard input instead of /dev/null. Raises OSError if exec fails."""
    environment = {**env, RUN_MARKER_VARIABLE: marker}
    popen = _popen(argv, exec_path, descriptor, environment, cwd, subprocess.PIPE, stdin)
    return SpawnedChild(popen, marker)


def spawn_check(
    exec_path: str, descriptor: int, argv: Sequence[str], env: Mapping[str, str], marker: str
) -> subprocess.Popen[bytes]:
    """Start a command health check like `spawn`, its stdout and stderr merged into one pipe.
    Its owner calls `forget(pid)` once it has reaped it."""
    return _popen(
        argv, exec_path, descriptor, {**env, RUN_MARKER_VARIABLE: marker}, None, subprocess.STDOUT, False
    )


def _popen(
    argv: Sequence[str],
    exec_path: str,
    descriptor: int,
    env: dict[str, str],
    cwd: str | None,
    stderr: int,
    stdin: bool,
) -> subprocess.Popen[bytes]:
    with _spawned_lock:
        popen = subprocess.Popen(
            list(argv),
            executable=exec_path,
            pass_fds=(descriptor,),
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            start_new_session=True,
            close_fds=True,
            shell=False,
        )
        _spawned.add(popen.pid)
    return popen


def forget(pid: int) -> None:
    """A child spawned here was reaped by its owner."""
    with _spawned_lock:
        _spawned.discard(pid)


def signal_tree(process_group: int, marker: str, signal_number: int, leader: int | None = None) -> None:
    """Signal a run's process group, then each of its processes that left the group. `leader`
    (a child spawned here): when it has no child and the daemon adopted no orphan, nothing can
    have left the group, and the pass over every process of the machine (~1 ms) is spared."""
    with contextlib.suppress(ProcessLookupError):  # nobody left in the group
        os.killpg(process_group, signal_number)
    if leader is not None and _group_is_the_whole_run(leader):
        return
    table = scan_processes()
    members = run_processes(table, process_group, _adopted(table), lambda pid: read_run_marker(pid) == marker)
    _signal_each(table, outside_the_group(table, members, process_group), signal_number)


def _group_is_the_whole_run(leader: int) -> bool:
    """True when every process of the run is in its group: the leader has no child (a gone
    leader has none: they were re-parented to us), and every child of ours was spawned here, so
    no orphan of the run (adopted by us as subreaper) is about. Any doubt says False."""
    leader_children = children_of(leader)
    if leader_children is None or leader_children:
        return False
    ours = children_of(os.getpid())
    if ours is None:
        return False
    with _spawned_lock:
        return all(pid in _spawned for pid in ours)


def read_run_marker(pid: int) -> str | None:
    """The run marker in the environment `pid` was started with, if it can be read."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as environ:
            variables = environ.read().split(b"\0")
    except OSError:
        return None
    prefix = RUN_MARKER_VARIABLE.encode() + b"="
    for variable in variables:
        if variable.startswith(prefix):
            return os.fsdecode(variable[len(prefix) :])
    return None


def _adopted(table: ProcessTable) -> list[int]:
    """Our children that were not spawned here: orphans re-parented to us as subreaper."""
    with _spawned_lock:
        return [pid for pid in table.children(os.getpid()) if pid not in _spawned]


def _signal_each(table: ProcessTable, pids: Iterable[int], signal_number: int) -> None:
    """Signal each process through a pidfd, only if it is still the process in `table`."""
    for pid in pids:
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            entry = read_stat(pid)  # read after the pidfd pins the process: a match is that process
            if entry is not None and entry.start_ticks == table.entries[pid].start_ticks:
                logger.debug("signalling pid %d, which left its run's process group", pid)
                signal.pidfd_send_signal(pidfd, signal_number)
        except ProcessLookupError:
            pass
        finally:
            os.close(pidfd)


def reap_adopted() -> None:
    """Reap every orphan that was adopted and has exited; never a child spawned here."""
    with _spawned_lock:
        while True:
            try:
                exited = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return  # no child at all
            if exited is None:
                return
            if exited.si_pid in _spawned:  # its owner reaps it: look past it, once
                for pid in _exited_children():
                    _reap(pid)
                return
            _reap(exited.si_pid)


def _exited_children() -> list[int]:
    table = scan_processes()
    return [pid for pid in table.children(os.getpid()) if table.entries[pid].zombie and pid not in _spawned]


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def kill_adopted() -> None:
    """Kill every adopted orphan and what is below it (the daemon is stopping: whichever run
    they came from, they are ours), and reap them."""
    table = scan_processes()
    adopted = _adopted(table)
    members = run_processes(table, 0, adopted, lambda pid: True, leader_known=False)
    _signal_each(table, sorted(members), signal.SIGKILL)
    deadline = time.monotonic() + ADOPTED_REAP_WAIT_S
    for pid in adopted:
        _wait_for_exit(pid, deadline)
    reap_adopted()


def _wait_for_exit(pid: int, deadline: float) -> None:
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        select.select([pidfd], [], [], max(deadline - time.monotonic(), 0))
    finally:
        os.close(pidfd)


def end_orphaned_runs(runs: Sequence[tuple[int, float, str]]) -> None:
    """Kill what a dead daemon's runs (leader pid, start time, marker) left: each leader's group
    and session if its pid is not another process now, and every process carrying the run's
    marker, with all below them. One pass over the machine's processes serves every run."""
    if not runs:
        return
    table = scan_processes()
    candidates = [pid for pid in table.entries if pid != os.getpid()]
    markers = {pid: read_run_marker(pid) for pid in candidates}
    for leader, started_at, marker in runs:
        leader_known = leader not in table.entries or _started_at(leader, started_at)
        if leader_known:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(leader, signal.SIGKILL)
        carries = functools.partial(_carries_marker, markers, marker)
        members = run_processes(table, leader, candidates, carries, leader_known)
        _signal_each(table, sorted(members), signal.SIGKILL)


def _carries_marker(markers: Mapping[int, str | None], marker: str, pid: int) -> bool:
    return markers.get(pid) == marker


def _started_at(pid: int, started_at: float) -> bool:
    try:
        return abs(psutil.Process(pid).create_time() - started_at) < SAME_START_TOLERANCE_S
    except psutil.Error:
        return False


def signal_name(signal_number: int) -> str:
    try:
        return signal.Signals(signal_number).name
    except ValueError:
        return f"signal {signal_number}"
