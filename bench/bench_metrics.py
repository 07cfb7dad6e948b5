"""MetricsActor figures: the cost of watching 50 idle children.

Run: /tmp/venv/bin/python bench/bench_metrics.py [--children N] [--seconds S]

Starts N idle children (`/bin/sleep`, each in its own session as the ProcessActor starts them),
tracks them all and prints:
- the median time of one sampling pass over all N trees (`Sampler.sample_all`, the exact code a
  tick runs), beside the naive way of finding each tree (`children(recursive=True)` per leader,
  which rescans every process on the host for each tree);
- the MetricsActor's CPU use while it samples every second for S seconds, as % of one core: its
  own thread's CPU time, and the whole bench process's (scheduler thread included);
- the median latency of ProcessStatsQuery (tell, answer through the reply future).
Every child is killed and reaped on any exit path.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import itertools
import os
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pykka

from pm_actors.actors.metrics import MetricsActor, Sampler
from pm_actors.actors.observer_messages import ProcessStatsQuery, TrackProcess
from pm_actors.actors.scheduler import Scheduler
from pm_actors.specs import Limits

PASS_RUNS = 30
STATS_CALLS = 100
SAMPLE_INTERVAL_S = 1.0
"""The daemon's interval: the CPU figure is what the daemon pays."""
LIMITS = Limits(max_memory_mb=1024, max_cpu_percent=80)
"""The defaults of PM_MAX_MEMORY_MB / PM_MAX_CPU_PERCENT, so the streaks are exercised too."""


@contextlib.contextmanager
def idle_children(count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    children: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(count):
            children.append(subprocess.Popen(["/bin/sleep", "600"], start_new_session=True))
        yield children
    finally:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()


def median_ms(action: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def track_messages(children: list[subprocess.Popen[bytes]], process: Any) -> list[TrackProcess]:
    return [TrackProcess(f"idle-{n}", n, child.pid, LIMITS, process) for n, child in enumerate(children)]


def pass_figures(children: list[subprocess.Popen[bytes]]) -> tuple[float, float]:
    """Median ms of a Sampler pass over every child, and of finding the trees the naive way."""
    sampler = Sampler()
    for message in track_messages(children, None):
        sampler.track(message)
    sampler.sample_all()  # the first pass creates the psutil objects; later ones reuse them
    sample_pass = median_ms(sampler.sample_all, PASS_RUNS)
    leaders = [psutil.Process(child.pid) for child in children]
    naive_trees = median_ms(lambda: [leader.children(recursive=True) for leader in leaders], PASS_RUNS)
    return sample_pass, naive_trees


def thread_cpu_s(name_prefix: str) -> float:
    """CPU time (user + system) of this process's thread whose name starts with `name_prefix`."""
    thread = next(t for t in threading.enumerate() if t.name.startswith(name_prefix))
    times = next(t for t in psutil.Process().threads() if t.id == thread.native_id)
    return times.user_time + times.system_time


def process_cpu_s() -> float:
    times = psutil.Process().cpu_times()
    return times.user + times.system


def actor_figures(children: list[subprocess.Popen[bytes]], seconds: float) -> tuple[float, float, float]:
    """The actor thread's and the process's CPU % of one core over `seconds`, and stats latency (ms)."""
    scheduler = Scheduler()
    scheduler.start()
    try:
        with tempfile.TemporaryDirectory() as directory:
            actor = MetricsActor.start(scheduler, Path(directory), sample_interval_s=SAMPLE_INTERVAL_S)
            for message in track_messages(children, actor):
                actor.tell(message)
            time.sleep(SAMPLE_INTERVAL_S * 1.5)  # the first tick has built the cache
            thread_before, process_before, started = (
                thread_cpu_s("MetricsActor"),
                process_cpu_s(),
                time.monotonic(),
            )
            time.sleep(seconds)
            elapsed = time.monotonic() - started
            thread_cpu = 100 * (thread_cpu_s("MetricsActor") - thread_before) / elapsed
            process_cpu = 100 * (process_cpu_s() - process_before) / elapsed
            names = itertools.cycle(message.name for message in track_messages(children, None))
            latency = median_ms(lambda: stats(actor, next(names)), STATS_CALLS)
    finally:
        pykka.ActorRegistry.stop_all()
        scheduler.stop()
    return thread_cpu, process_cpu, latency


def stats(actor: pykka.ActorRef[Any], name: str) -> object:
    reply: concurrent.futures.Future[Any] = concurrent.futures.Future()
    actor.tell(ProcessStatsQuery(name, reply))
    return reply.result(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--children", type=int, default=50, help="idle children to track")
    parser.add_argument("--seconds", type=float, default=5.0, help="how long to measure the actor's CPU")
    options = parser.parse_args()
    with idle_children(options.children) as children:
        host_pids = len(psutil.pids())
        sample_pass, naive_trees = pass_figures(children)
        thread_cpu, process_cpu, latency = actor_figures(children, options.seconds)
    print(f"{options.children} idle children, {host_pids} pids on the host, {os.cpu_count()} cores")
    print(f"sampling pass (all trees: scan, RSS, CPU, limits), median: {sample_pass:.2f} ms")
    print(f"  for comparison, children(recursive=True) per leader:   {naive_trees:.2f} ms")
    print(
        f"MetricsActor CPU at {SAMPLE_INTERVAL_S:g} s sampling over {options.seconds:g} s: "
        f"thread {thread_cpu:.2f}% of one core, whole process {process_cpu:.2f}%"
    )
    print(f"ProcessStatsQuery latency, median of {STATS_CALLS}: {latency:.2f} ms")


if __name__ == "__main__":
    main()
