"""MetricsActor: the resource use of every tracked run's process tree, and its limits.

Every `sample_interval_s` a scheduler callback tells the actor `SampleTick`; one pass scans
/proc once, reads RSS and CPU of every tracked tree (the cheap fields, see `sampling`), feeds
the limit streaks and asks to be told again: the actor never sleeps. Threads, open files and
listening ports cost more, so they are read only when asked for (ProcessStatsQuery,
ListeningPorts), for the one tree asked about.

A limit is breached when every sample over `window_s` is above it (a sample at or below it ends
the streak). A sustained breach is logged and told to the run's ProcessActor as
`LimitBreached`, marked enforced or not from the run's Limits; the ProcessActor decides what
to do. Then a new streak begins, so a breach that goes on is reported once per window, not
every tick.

`Sampler` is the plain, synchronous part (the runs, the psutil cache, the streaks); the actor
is its shell of messages and timers. Both run on the actor's own thread.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from pm_actors.actors.base import DaemonActor, answer
from pm_actors.actors.delivery import tell_if_alive
from pm_actors.actors.messages import LimitBreached
from pm_actors.actors.observer_messages import (
    LastMemory,
    ListeningPorts,
    ProcessStatsQuery,
    SampleTick,
    SystemStatsQuery,
    TrackProcess,
    UntrackProcess,
)
from pm_actors.actors.sampling import (
    BYTES_PER_MB,
    ProcessCache,
    ProcessTable,
    TreeSample,
    listening_ports,
    read_stat,
    sample_tree,
    scan_processes,
    tree_details,
)
from pm_actors.actors.scheduler import Scheduler, TimerHandle
from pm_actors.errors import NotRunning
from pm_actors.results import Breach, ProcessStats, SystemStats, iso_utc
from pm_actors.specs import Limits

logger = logging.getLogger(__name__)

SLOW_PASS_FRACTION = 0.2
"""A pass is ~3 ms for 50 idle trees; one that takes a fifth of the interval means the host or
the trees are so large that sampling itself costs a noticeable share of a core: say so."""


def _now_iso() -> str:
    return iso_utc(time.time()) or ""


@dataclass
class Streak:
    """When the current run of samples above one limit began (None: the last sample was not above)."""

    since: float | None = None

    def observe(self, above: bool, now: float, window_s: float) -> bool:
        """Record one sample; True when it completes a breach held for `window_s`.

        The sample that completes a breach begins the next streak, so a breach that goes on
        is reported once per window."""
        if not above:
            self.since = None
            return False
        if self.since is None:
            self.since = now
            return False
        if now - self.since < window_s:
            return False
        self.since = now
        return True


@dataclass
class TrackedRun:
    """One run being sampled, from TrackProcess until UntrackProcess (or another run of the name)."""

    name: str
    run_id: int
    pid: int
    limits: Limits
    process: Any
    """The ProcessActor's ref, told `LimitBreached`."""
    start_ticks: int | None
    """The leader's start time when tracked: the same pid with another start time is another process."""
    memory: Streak = field(default_factory=Streak)
    cpu: Streak = field(default_factory=Streak)
    last_memory_mb: float | None = None
    """The tree's memory at the last sample that found it: what it held when killed, roughly."""

    def forget_streaks(self) -> None:
        """No sample (the run is gone): a breach must be seen whole again."""
        self.memory = Streak()
        self.cpu = Streak()

    def check_limits(self, sample: TreeSample, now: float) -> list[Breach]:
        """The sustained breaches this sample completes; a None limit is not watched."""
        limits = self.limits
        breaches: list[Breach] = []
        window = f"for {limits.window_s:g} s"
        memory_mb = sample.tree_rss / BYTES_PER_MB
        if limits.max_memory_mb is not None and self.memory.observe(
            memory_mb > limits.max_memory_mb, now, limits.window_s
        ):
            detail = f"memory {memory_mb:.0f} MB > limit {limits.max_memory_mb} MB {window}"
            breaches.append(
                Breach(kind="memory", detail=detail, at=_now_iso(), enforced=limits.enforce_memory)
            )
        cpu = sample.cpu_percent
        if limits.max_cpu_percent is not None and self.cpu.observe(
            cpu > limits.max_cpu_percent, now, limits.window_s
        ):
            detail = f"CPU {cpu:.0f}% > limit {limits.max_cpu_percent:g}% {window}"
            breaches.append(Breach(kind="cpu", detail=detail, at=_now_iso(), enforced=limits.enforce_cpu))
        return breaches


class Sampler:
    """The tracked runs, their cached psutil objects and their streaks: plain and synchronous,
    so the bench can time a pass of exactly the code the actor runs."""

    def __init__(self) -> None:
        self._runs: dict[str, TrackedRun] = {}
        self._cache = ProcessCache()

    def track(self, message: TrackProcess) -> None:
        """Start watching a run; a run tracked under the same name before is replaced."""
        entry = read_stat(message.pid)
        self._runs[message.name] = TrackedRun(
            name=message.name,
            run_id=message.run_id,
            pid=message.pid,
            limits=message.limits,
            process=message.process,
            start_ticks=entry.start_ticks if entry is not None else None,
        )

    def untrack(self, name: str) -> None:
        self._runs.pop(name, None)

    @property
    def tracked(self) -> int:
        return len(self._runs)

    def sample_all(self) -> list[tuple[TrackedRun, Breach]]:
        """One pass: the cheap fields of every tracked tree, and the breaches they complete."""
        if not self._runs:
            self._cache.keep_only(())
            return []
        table = scan_processes()
        now = time.monotonic()
        breaches: list[tuple[TrackedRun, Breach]] = []
        sampled: list[int] = []
        for run in self._runs.values():
            sample = self._sample(run, table, now, advance=True)
            if sample is None:
                run.forget_streaks()
                continue
            sampled.extend(process.pid for process in sample.processes)
            run.last_memory_mb = sample.tree_rss / BYTES_PER_MB
            breaches.extend((run, breach) for breach in run.check_limits(sample, now))
        self._cache.keep_only(sampled)
        return breaches

    def process_stats(self, name: str) -> ProcessStats:
        """A fresh sample of one tree with every field; raises NotRunning if there is none."""
        run = self._runs.get(name)
        if run is None:
            raise NotRunning(f"process {name!r} is not running, so it has no resource use to show")
        sample = self._sample(run, scan_processes(), time.monotonic(), advance=False)
        if sample is None:
            raise NotRunning(f"process {name!r} (pid {run.pid}) has ended; it has no resource use to show")
        details = tree_details(sample.processes)
        return ProcessStats(
            name=name,
            pid=run.pid,
            cpu_percent=round(sample.cpu_percent, 1),
            rss_mb=round(sample.leader_rss / BYTES_PER_MB, 1),
            tree_rss_mb=round(sample.tree_rss / BYTES_PER_MB, 1),
            threads=details.threads,
            open_files=details.open_files,
            children=len(sample.processes) - 1,
            uptime_s=round(max(0.0, time.time() - sample.processes[0].create_time()), 1),
            listening_ports=details.listening_ports,
            sampled_at=_now_iso(),
        )

    def last_memory_mb(self, name: str) -> float | None:
        run = self._runs.get(name)
        return None if run is None else run.last_memory_mb

    def listening_ports(self, name: str) -> list[int]:
        """The TCP ports the run's tree listens on now; [] if it is not tracked or has ended."""
        run = self._runs.get(name)
        if run is None:
            return []
        table = scan_processes()
        processes = [self._cache.meter(pid, table.entries[pid]) for pid in self._members(run, table)]
        return listening_ports(meter.process for meter in processes if meter is not None)

    def _sample(self, run: TrackedRun, table: ProcessTable, now: float, advance: bool) -> TreeSample | None:
        pids = self._members(run, table)
        return sample_tree(self._cache, table, pids, now, advance) if pids else None

    @staticmethod
    def _members(run: TrackedRun, table: ProcessTable) -> list[int]:
        """The run's tree now, leader first; [] if the leader is gone (or its pid was reused)."""
        entry = table.entries.get(run.pid)
        if entry is None or entry.start_ticks != run.start_ticks:
            return []
        return table.tree(run.pid)


def system_stats(disk_path: Path, managed_processes: int, running_processes: int) -> SystemStats:
    """The host's figures. CPU % is since the previous call (psutil keeps that baseline)."""
    memory = psutil.virtual_memory()
    disk = psutil.disk_usage(str(_existing(disk_path)))
    load_1m, load_5m, load_15m = os.getloadavg()
    return SystemStats(
        cpu_percent=psutil.cpu_percent(None),
        cpu_count=psutil.cpu_count() or 1,
        load_1m=load_1m,
        load_5m=load_5m,
        load_15m=load_15m,
        memory_total_mb=round(memory.total / BYTES_PER_MB, 1),
        # Used as in memory.percent (total - available), so the two figures agree.
        memory_used_mb=round((memory.total - memory.available) / BYTES_PER_MB, 1),
        memory_percent=memory.percent,
        disk_path=str(disk_path),
        disk_total_mb=round(disk.total / BYTES_PER_MB, 1),
        disk_used_mb=round(disk.used / BYTES_PER_MB, 1),
        disk_percent=disk.percent,
        managed_processes=managed_processes,
        running_processes=running_processes,
    )


def _existing(path: Path) -> Path:
    """`path` or its nearest existing parent: the database file may not exist yet."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


class MetricsActor(DaemonActor):
    def __init__(self, scheduler: Scheduler, disk_path: Path, sample_interval_s: float = 1.0) -> None:
        super().__init__()
        self._scheduler = scheduler
        self._disk_path = disk_path
        self._interval_s = sample_interval_s
        self._sampler = Sampler()
        self._timer: TimerHandle | None = None

    def on_start(self) -> None:
        """Runs on the actor's thread before any message: primes psutil's system CPU baseline
        (the first reading after it is meaningful) and schedules the first tick."""
        psutil.cpu_percent(None)
        self._schedule_tick()

    def on_stop(self) -> None:
        """Runs on the actor's thread: a tick already scheduled must not tell a stopped actor."""
        if self._timer is not None:
            self._timer.cancel()
        super().on_stop()

    def handle(self, message: Any) -> Any:
        """Runs on the actor's thread, one message at a time."""
        match message:
            case SampleTick():
                self._on_tick()
            case TrackProcess():
                self._sampler.track(message)
                logger.debug(
                    "metrics: tracking %r (pid %d, run %d)", message.name, message.pid, message.run_id
                )
            case UntrackProcess(name):
                self._sampler.untrack(name)
            case ProcessStatsQuery(name, reply):
                answer(reply, self._sampler.process_stats(name))
            case SystemStatsQuery(reply, managed, running):
                answer(reply, system_stats(self._disk_path, managed, running))
            case ListeningPorts(name):
                return self._sampler.listening_ports(name)
            case LastMemory(name):
                return self._sampler.last_memory_mb(name)
            case _:
                logger.error("metrics: unexpected message %r", message)
        return None

    def _on_tick(self) -> None:
        started = time.perf_counter()
        try:
            for run, breach in self._sampler.sample_all():
                self._report(run, breach)
        finally:
            self._schedule_tick()
        elapsed_s = time.perf_counter() - started
        if elapsed_s > self._interval_s * SLOW_PASS_FRACTION:
            logger.warning(
                "metrics: a sampling pass over %d runs took %.0f ms; sampling is itself a load",
                self._sampler.tracked,
                1000 * elapsed_s,
            )

    def _report(self, run: TrackedRun, breach: Breach) -> None:
        action = "enforced" if breach.enforced else "report only"
        logger.warning(
            "process %r: sustained %s breach: %s (%s)", run.name, breach.kind, breach.detail, action
        )
        tell_if_alive(run.process, LimitBreached(run.run_id, breach))

    def _schedule_tick(self) -> None:
        self._timer = self._scheduler.tell_later(self._interval_s, self.actor_ref, SampleTick())
