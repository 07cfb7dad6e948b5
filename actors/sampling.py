"""Sampling process trees cheaply: one scan of /proc per pass, psutil objects cached per pid.

The MetricsActor samples every tracked tree once a second, so the cost of a pass is what the
daemon pays forever. Measured with 50 idle children on a 2-core machine (~130 pids in all):

- `psutil.Process.children(recursive=True)` rebuilds the parent map of the whole host on
  every call: ~1.4 ms per tree, ~73 ms per pass for 50 trees. One scan of `/proc/*/stat` per
  pass (`scan_processes`) gives the same map for every tree at once in ~1.4 ms, plus each
  pid's session and start time (which tells a reused pid apart).
- RSS and CPU time of 50 processes through cached `psutil.Process` objects: ~1.4 ms. These
  are the cheap fields, read every tick: the limits are watched on them.
- Threads, open files and listening ports are read only when someone asks for a process's
  stats (`tree_details`): `open_files()` alone is ~2 ms for 50 processes.
- Listening ports: `Process.net_connections(kind="tcp")` per process of the one tree asked
  about, not `psutil.net_connections()` once: the per-process call lists that process's own
  fds and reads the TCP tables only if it has sockets (~0.02 ms for a socketless process),
  while the system-wide call walks every fd of every process on the host (~11 ms here, and
  it grows with the host, not with our trees). "tcp" rather than "inet" because only TCP
  listeners are reported, and "inet" also parses the UDP tables.

The scan reads `/proc` directly: the daemon is Linux-only already (it waits on pidfds).
Everything here runs on the MetricsActor's thread; nothing is shared with other threads.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

import psutil

PROC = "/proc"
VANISHED = (psutil.NoSuchProcess, psutil.AccessDenied)
"""What sampling a process that ended (or was never ours to read) raises; ZombieProcess is a
NoSuchProcess. Not an error: the process is simply left out of the sample."""
MIN_CPU_WINDOW_S = 0.05
"""CPU time advances in clock ticks (10 ms), so a rate over a shorter span is mostly noise."""
BYTES_PER_MB = 1024 * 1024


class ProcEntry(NamedTuple):
    """What one line of /proc/<pid>/stat tells about a pid."""

    ppid: int
    session: int
    start_ticks: int
    """Start time in clock ticks since boot: a different value under the same pid is a reused pid."""
    process_group: int = 0
    zombie: bool = False
    """It has ended and waits to be reaped: it runs nothing, and no signal reaches it."""


def read_stat(pid: int) -> ProcEntry | None:
    """The parent, session, start time, group and state of `pid`; None if it is gone."""
    try:
        with open(f"{PROC}/{pid}/stat", "rb") as stat:
            data = stat.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces or ')': split after the last ')'.
    fields = data[data.rfind(b")") + 2 :].split()
    try:
        return ProcEntry(
            ppid=int(fields[1]),
            session=int(fields[3]),
            start_ticks=int(fields[19]),
            process_group=int(fields[2]),
            zombie=fields[0] == b"Z",
        )
    except (IndexError, ValueError):
        return None


class ProcessTable:
    """Every pid on the host at one moment, indexed by parent and by session."""

    def __init__(self, entries: dict[int, ProcEntry]) -> None:
        self.entries = entries
        self._children: dict[int, list[int]] = {}
        self._sessions: dict[int, list[int]] = {}
        for pid, entry in entries.items():
            self._children.setdefault(entry.ppid, []).append(pid)
            self._sessions.setdefault(entry.session, []).append(pid)

    def children(self, pid: int) -> list[int]:
        return self._children.get(pid, [])

    def tree(self, leader: int) -> list[int]:
        """The leader (first) and its descendants, with every member of the session it leads.

        A child that double-forks leaves the parent chain (it is re-parented to init) but
        stays in our session unless it calls setsid, so the session keeps it counted: its
        memory is the run's memory, and the ProcessActor kills it with the group."""
        members = [leader]
        seen = {leader}
        roots = [leader]
        if self.entries[leader].session == leader:
            roots += self._sessions.get(leader, [])
        while roots:
            pid = roots.pop()
            if pid not in seen:
                seen.add(pid)
                members.append(pid)
            roots.extend(child for child in self._children.get(pid, []) if child not in seen)
        return members


def scan_processes() -> ProcessTable:
    """One pass over /proc/*/stat: the parent map the trees are built from (~1.4 ms for 130 pids)."""
    entries: dict[int, ProcEntry] = {}
    for name in os.listdir(PROC):
        if name.isdigit():
            entry = read_stat(int(name))
            if entry is not None:
                entries[int(name)] = entry
    return ProcessTable(entries)


CHILDREN_READ_BYTES = 1 << 16
"""One read of a children listing (a pid and a space each): a fuller one counts as unreadable."""


def children_of(pid: int) -> list[int] | None:
    """The children of `pid` from /proc/PID/task/*/children ([] if it is gone, None if unreadable)."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return []
    except OSError:
        return None
    children: list[int] = []
    for task in tasks:
        try:  # os.open rather than open(): a stop reads one file per thread of the daemon
            listing = os.open(f"/proc/{pid}/task/{task}/children", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:  # a thread that ended meanwhile, or a kernel without the file: unknown
            return None
        try:
            text = os.read(listing, CHILDREN_READ_BYTES)
        except OSError:
            return None
        finally:
            os.close(listing)
        if len(text) == CHILDREN_READ_BYTES:
            return None
        children += [int(child) for child in text.split()]
    return children


@dataclass
class Meter:
    """A cached psutil.Process and the CPU baseline of the last tick.

    The baseline is our own rather than `cpu_percent(None)`'s, because that one is reset by
    every call: an on-demand sample just before a tick would leave the tick a span of a few
    ms, whose clock-tick noise would feed the breach streaks."""

    process: psutil.Process
    start_ticks: int
    cpu_s: float | None = None
    at: float = 0.0
    rate: float = 0.0
    """CPU % over the last tick's span (100 = one core)."""

    def cpu_seconds(self) -> float:
        times = self.process.cpu_times()
        return times.user + times.system

    def cpu_percent(self, now: float, cpu_s: float, advance: bool) -> float:
        """CPU % since the last tick (or, the first time, since the process started).

        `advance` (ticks only) moves the baseline; an on-demand sample leaves it alone, and
        within MIN_CPU_WINDOW_S of a tick it reports that tick's rate."""
        if self.cpu_s is None:
            span = time.time() - self.process.create_time()
            rate = 100.0 * cpu_s / span if span >= MIN_CPU_WINDOW_S else 0.0
        elif now - self.at >= MIN_CPU_WINDOW_S:
            rate = 100.0 * (cpu_s - self.cpu_s) / (now - self.at)
        else:
            return self.rate
        if advance or self.cpu_s is None:
            self.cpu_s, self.at, self.rate = cpu_s, now, rate
        return rate


@dataclass
class PidSample:
    process: psutil.Process
    rss: int
    cpu_percent: float


@dataclass
class ProcessCache:
    """psutil.Process objects by pid, replaced when the pid's start time shows it was reused."""

    meters: dict[int, Meter] = field(default_factory=dict)

    def meter(self, pid: int, entry: ProcEntry) -> Meter | None:
        meter = self.meters.get(pid)
        if meter is not None and meter.start_ticks == entry.start_ticks:
            return meter
        try:
            meter = Meter(psutil.Process(pid), entry.start_ticks)
        except VANISHED:
            self.meters.pop(pid, None)
            return None
        self.meters[pid] = meter
        return meter

    def sample(self, pid: int, entry: ProcEntry, now: float, advance: bool) -> PidSample | None:
        """RSS and CPU % of one process: the cheap fields (two small /proc reads)."""
        meter = self.meter(pid, entry)
        if meter is None:
            return None
        try:
            rss = meter.process.memory_info().rss
            cpu = meter.cpu_percent(now, meter.cpu_seconds(), advance)
        except VANISHED:
            return None
        return PidSample(process=meter.process, rss=rss, cpu_percent=cpu)

    def keep_only(self, pids: Iterable[int]) -> None:
        """Forget processes no longer in any tracked tree, so the cache never grows without end."""
        keep = set(pids)
        for pid in [pid for pid in self.meters if pid not in keep]:
            del self.meters[pid]


@dataclass
class TreeSample:
    """The cheap fields of one tree, summed. RSS counts pages shared between members (after a
    fork) once per member: an upper bound, as ps and top show it; PSS would cost a smaps read."""

    leader_rss: int
    tree_rss: int
    cpu_percent: float
    processes: list[psutil.Process]
    """The members sampled, leader first (those that vanished meanwhile are left out)."""


def sample_tree(
    cache: ProcessCache, table: ProcessTable, pids: list[int], now: float, advance: bool
) -> TreeSample | None:
    """Sum RSS and CPU over `pids` (leader first); None if the leader itself is gone."""
    samples = [cache.sample(pid, table.entries[pid], now, advance) for pid in pids]
    leader = samples[0]
    if leader is None:
        return None
    present = [sample for sample in samples if sample is not None]
    return TreeSample(
        leader_rss=leader.rss,
        tree_rss=sum(sample.rss for sample in present),
        cpu_percent=sum(sample.cpu_percent for sample in present),
        processes=[sample.process for sample in present],
    )


@dataclass
class TreeDetails:
    """The costly fields, read only on request."""

    threads: int
    open_files: int
    listening_ports: list[int]


def tree_details(processes: Iterable[psutil.Process]) -> TreeDetails:
    threads = 0
    open_files = 0
    ports: set[int] = set()
    for process in processes:
        threads += _or_zero(process.num_threads)
        open_files += _or_zero(functools.partial(_open_file_count, process))
        ports.update(_listening(process))
    return TreeDetails(threads=threads, open_files=open_files, listening_ports=sorted(ports))


def listening_ports(processes: Iterable[psutil.Process]) -> list[int]:
    """The TCP ports these processes listen on, sorted, each once (IPv4 and IPv6 alike)."""
    ports: set[int] = set()
    for process in processes:
        ports.update(_listening(process))
    return sorted(ports)


def _open_file_count(process: psutil.Process) -> int:
    return len(process.open_files())


def _listening(process: psutil.Process) -> set[int]:
    try:
        connections = process.net_connections(kind="tcp")
    except VANISHED:
        return set()
    return {conn.laddr.port for conn in connections if conn.status == psutil.CONN_LISTEN and conn.laddr}


def _or_zero(read: Callable[[], int]) -> int:
    """A count, or 0 for a process that vanished or that we may not read."""
    try:
        return read()
    except VANISHED:
        return 0
