"""The MetricsActor against real process trees, a real scheduler and a stand-in ProcessActor."""

from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import os
import select
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pykka
import pytest

from pm_actors.actors.messages import LimitBreached
from pm_actors.actors.metrics import MetricsActor, Streak
from pm_actors.actors.observer_messages import (
    ListeningPorts,
    ProcessStatsQuery,
    SystemStatsQuery,
    TrackProcess,
    UntrackProcess,
)
from pm_actors.actors.scheduler import Scheduler
from pm_actors.errors import NotRunning
from pm_actors.results import ProcessStats, SystemStats
from pm_actors.specs import Limits
from tests.helpers import PYTHON, wait_until

pytestmark = pytest.mark.timeout(30)

SAMPLE_INTERVAL_S = 0.1
REPLY_TIMEOUT_S = 10.0
BREACH_TIMEOUT_S = 10.0
"""Far above a 0.3-0.5 s window sampled every 0.1 s, so only a missing breach reaches it."""
MB = 1024 * 1024

ALLOCATE_50_MB = "b = b'\\x01' * (50 * 1024 * 1024)"
"""Bytes of ones, so every page is touched and counted in RSS (zeros may stay unmapped)."""
IDLE = "import time; time.sleep(60)"
HOLD_50_MB = f"{ALLOCATE_50_MB}; print('ready', flush=True); import time; time.sleep(60)"
SPAWN_GRANDCHILD = (
    f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {HOLD_50_MB!r}]); {IDLE}"
)
DOUBLE_FORK = (
    "import os, sys, time\n"
    "if os.fork() == 0:\n"
    "    if os.fork() == 0:\n"
    f"        os.execv(sys.executable, [sys.executable, '-c', {HOLD_50_MB!r}])\n"
    "    os._exit(0)\n"
    "os.wait()\n"
    "time.sleep(60)\n"
)
LISTEN = (
    "import socket, time; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen();"
    " print(s.getsockname()[1], flush=True); time.sleep(60)"
)
BUSY = "print('ready', flush=True)\nwhile True: pass"


class Children:
    """Python children, each in its own session (as the ProcessActor starts them)."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[str]] = []

    def start(self, code: str) -> subprocess.Popen[str]:
        child = subprocess.Popen(
            [PYTHON, "-u", "-c", code], stdout=subprocess.PIPE, text=True, start_new_session=True
        )
        self.started.append(child)
        return child

    def kill_all(self) -> None:
        """Kill every child's whole group (grandchildren too) and reap the children."""
        for child in self.started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait(timeout=REPLY_TIMEOUT_S)
            if child.stdout is not None:
                child.stdout.close()


def first_line(child: subprocess.Popen[str], timeout: float = REPLY_TIMEOUT_S) -> str:
    """The child's next output line, waiting at most `timeout` for it."""
    assert child.stdout is not None
    readable, _, _ = select.select([child.stdout], [], [], timeout)
    assert readable, f"no output from pid {child.pid} within {timeout} s"
    return child.stdout.readline().strip()


class Recorded(msgspec.Struct, frozen=True):
    """Asked of a BreachRecorder: the LimitBreached messages it has received."""


class BreachRecorder(pykka.ThreadingActor):
    """Stands in for the ProcessActor: keeps every LimitBreached it is told."""

    def __init__(self) -> None:
        super().__init__()
        self.breaches: list[LimitBreached] = []

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, LimitBreached):
            self.breaches.append(message)
        elif isinstance(message, Recorded):
            return list(self.breaches)
        return None


@pytest.fixture
def children() -> Iterator[Children]:
    started = Children()
    try:
        yield started
    finally:
        started.kill_all()


@pytest.fixture
def metrics(scheduler: Scheduler, tmp_path: Path) -> Iterator[pykka.ActorRef[Any]]:
    actor = MetricsActor.start(scheduler, tmp_path, sample_interval_s=SAMPLE_INTERVAL_S)
    try:
        yield actor
    finally:
        pykka.ActorRegistry.stop_all()


run_ids = itertools.count(1)


def track(
    metrics: pykka.ActorRef[Any], name: str, child: subprocess.Popen[str], limits: Limits | None = None
) -> tuple[int, pykka.ActorRef[Any]]:
    """Track `child` under `name`; the run id and the recorder its breaches go to."""
    recorder = BreachRecorder.start()
    run_id = next(run_ids)
    metrics.tell(TrackProcess(name, run_id, child.pid, limits or Limits(), recorder))
    return run_id, recorder


def process_stats(metrics: pykka.ActorRef[Any], name: str) -> ProcessStats:
    reply: concurrent.futures.Future[Any] = concurrent.futures.Future()
    metrics.tell(ProcessStatsQuery(name, reply))
    stats: ProcessStats = reply.result(timeout=REPLY_TIMEOUT_S)
    return stats


def breaches(recorder: pykka.ActorRef[Any]) -> list[LimitBreached]:
    received: list[LimitBreached] = recorder.ask(Recorded(), block=True, timeout=REPLY_TIMEOUT_S)
    return received


def listening_ports(metrics: pykka.ActorRef[Any], name: str) -> list[int]:
    ports: list[int] = metrics.ask(ListeningPorts(name), block=True, timeout=REPLY_TIMEOUT_S)
    return ports


def test_stats_count_the_memory_of_a_grandchild_in_the_tree(
    metrics: pykka.ActorRef[Any], children: Children
) -> None:
    child = children.start(SPAWN_GRANDCHILD)
    track(metrics, "tree", child)
    assert first_line(child) == "ready"  # the grandchild holds its 50 MB

    stats = process_stats(metrics, "tree")

    assert stats.name == "tree"
    assert stats.pid == child.pid
    assert stats.children == 1
    assert stats.tree_rss_mb >= stats.rss_mb + 40
    assert stats.threads >= 2
    assert stats.uptime_s >= 0
    assert stats.sampled_at.endswith("Z")


def test_a_double_forked_descendant_still_counts_through_the_session(
    metrics: pykka.ActorRef[Any], children: Children
) -> None:
    child = children.start(DOUBLE_FORK)
    track(metrics, "daemonizer", child)
    assert first_line(child) == "ready"  # its parent has exited: init adopted it

    stats = process_stats(metrics, "daemonizer")

    assert stats.children == 1
    assert stats.tree_rss_mb >= stats.rss_mb + 40


def test_a_port_the_child_listens_on_is_reported(metrics: pykka.ActorRef[Any], children: Children) -> None:
    child = children.start(LISTEN)
    track(metrics, "server", child)
    port = int(first_line(child))

    assert port in listening_ports(metrics, "server")
    assert port in process_stats(metrics, "server").listening_ports


def test_memory_above_the_limit_for_the_whole_window_is_reported_as_enforced(
    metrics: pykka.ActorRef[Any], children: Children
) -> None:
    child = children.start(HOLD_50_MB)
    assert first_line(child) == "ready"
    run_id, recorder = track(metrics, "hungry", child, Limits(max_memory_mb=30, window_s=0.3))

    received = wait_until(lambda: breaches(recorder), timeout=BREACH_TIMEOUT_S, message="a memory breach")

    breach = received[0]
    assert breach.run_id == run_id
    assert breach.breach.kind == "memory"
    assert breach.breach.enforced is True
    assert "> limit 30 MB for 0.3 s" in breach.breach.detail
    assert breach.breach.at.endswith("Z")


def test_a_child_under_its_limits_is_not_reported(metrics: pykka.ActorRef[Any], children: Children) -> None:
    limits = Limits(max_memory_mb=500, max_cpu_percent=90, window_s=0.3)
    modest = children.start(HOLD_50_MB)
    control = children.start(HOLD_50_MB)
    assert first_line(modest) == "ready"
    assert first_line(control) == "ready"
    _, modest_recorder = track(metrics, "modest", modest, limits)
    _, control_recorder = track(metrics, "control", control, Limits(max_memory_mb=30, window_s=0.3))

    # The control's breach shows that a whole window of samples of both has passed.
    wait_until(lambda: breaches(control_recorder), timeout=BREACH_TIMEOUT_S, message="the control's breach")

    assert breaches(modest_recorder) == []


def test_a_busy_loop_over_the_cpu_limit_is_reported_but_not_enforced_by_default(
    metrics: pykka.ActorRef[Any], children: Children
) -> None:
    child = children.start(BUSY)
    assert first_line(child) == "ready"
    _, recorder = track(metrics, "spinner", child, Limits(max_cpu_percent=20, window_s=0.5))

    received = wait_until(lambda: breaches(recorder), timeout=BREACH_TIMEOUT_S, message="a CPU breach")

    assert [message.breach.kind for message in received] == ["cpu"] * len(received)
    assert received[0].breach.enforced is False
    assert "> limit 20% for 0.5 s" in received[0].breach.detail


def test_system_stats_are_sane(metrics: pykka.ActorRef[Any], tmp_path: Path) -> None:
    reply: concurrent.futures.Future[Any] = concurrent.futures.Future()
    metrics.tell(SystemStatsQuery(reply, managed_processes=3, running_processes=2))
    stats: SystemStats = reply.result(timeout=REPLY_TIMEOUT_S)

    assert stats.cpu_count >= 1
    assert 0 <= stats.cpu_percent <= 100
    assert min(stats.load_1m, stats.load_5m, stats.load_15m) >= 0
    assert 0 < stats.memory_used_mb < stats.memory_total_mb
    assert 0 < stats.memory_percent < 100
    assert stats.disk_path == str(tmp_path)
    assert 0 < stats.disk_used_mb <= stats.disk_total_mb
    assert 0 < stats.disk_percent <= 100
    assert (stats.managed_processes, stats.running_processes) == (3, 2)


def test_an_untracked_name_is_not_running(metrics: pykka.ActorRef[Any]) -> None:
    with pytest.raises(NotRunning, match="'ghost' is not running"):
        process_stats(metrics, "ghost")
    assert listening_ports(metrics, "ghost") == []


def test_an_untracked_process_is_no_longer_sampled(metrics: pykka.ActorRef[Any], children: Children) -> None:
    child = children.start(IDLE)
    track(metrics, "brief", child)
    assert process_stats(metrics, "brief").pid == child.pid

    metrics.tell(UntrackProcess("brief"))

    with pytest.raises(NotRunning):
        process_stats(metrics, "brief")


def test_a_process_that_vanished_is_not_running_and_sampling_goes_on(
    metrics: pykka.ActorRef[Any], children: Children
) -> None:
    gone = children.start(IDLE)
    alive = children.start(HOLD_50_MB)
    assert first_line(alive) == "ready"
    track(metrics, "gone", gone)
    _, recorder = track(metrics, "alive", alive, Limits(max_memory_mb=30, window_s=0.3))
    gone.kill()
    gone.wait(timeout=REPLY_TIMEOUT_S)

    with pytest.raises(NotRunning, match="has ended"):
        process_stats(metrics, "gone")
    assert listening_ports(metrics, "gone") == []
    # Ticks went on past the vanished one: the other run's breach still arrives.
    wait_until(lambda: breaches(recorder), timeout=BREACH_TIMEOUT_S, message="the live run's breach")


def test_a_streak_completes_only_when_every_sample_of_the_window_is_above() -> None:
    streak = Streak()
    window_s = 1.0

    assert not streak.observe(True, 0.0, window_s)
    assert not streak.observe(True, 0.5, window_s)
    assert not streak.observe(False, 0.9, window_s)  # a sample at or below the limit ends it
    assert not streak.observe(True, 1.0, window_s)
    assert not streak.observe(True, 1.9, window_s)
    assert streak.observe(True, 2.0, window_s)
    assert not streak.observe(True, 2.5, window_s)  # reported once; the next window starts
    assert streak.observe(True, 3.0, window_s)
