"""The two managers of `python -m bench`, each started as its user would start it.

pm-actors: `pm-actors daemon start` (the CLI), which starts the keeper and the daemon under it,
in a private HOME with its own database, socket and token; the bench then talks to it through
its socket (`DaemonClient`) and through `pm-actors mcp` over stdio. supervisord: the 4.3 of the
benchmark's own environment (`peer.py`), with every program the figures need declared up front.
Both are ended, with anything they left, on every exit path.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import psutil
from bench_daemon import PM_ACTORS, Measurements, cpu_seconds, end_process, kill_all, pm_environment, rss_mb
from peer import shutdown, start_supervisord, supervisor_config
from report import Goal, Report, Row, Sample
from sizes import Sizes

from pm_actors.config import load_config
from pm_actors.ipc.client import DaemonClient

CLI_TIMEOUT_S = 60.0
IDLE_WINDOW_S = 0.1
IDLE_CPU = 0.05
IDLE_DEADLINE_S = 300.0


@dataclass
class PmDaemon:
    folder: Path
    environment: dict[str, str]
    client: DaemonClient
    pid: int
    keeper_pid: int | None

    @property
    def database(self) -> Path:
        return Path(self.environment["PM_DATABASE_PATH"])

    def rss_mb(self) -> float:
        return rss_mb(self.pid)

    def keeper_rss_mb(self) -> float | None:
        return None if self.keeper_pid is None else rss_mb(self.keeper_pid)

    def cli(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        return run_cli(self.environment, self.folder, *arguments)


def run_cli(environment: dict[str, str], folder: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """`pm-actors ARGUMENTS` with the daemon's environment, as its user would type it."""
    return subprocess.run(
        [PM_ACTORS, *arguments],
        env=environment,
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )


@contextlib.asynccontextmanager
async def pm_daemon(folder: Path, **settings: str) -> AsyncIterator[PmDaemon]:
    """A daemon under its keeper, started by the CLI; stopped by the CLI at the end (which stops
    its processes), then its keeper and anything left are ended."""
    folder.mkdir(parents=True, exist_ok=True)
    environment = pm_environment(folder) | {"PM_DAEMON_AUTO_START": "true"} | settings
    started = run_cli(environment, folder, "daemon", "start")
    if started.returncode != 0:
        raise RuntimeError(f"pm-actors daemon start failed: {started.stdout}{started.stderr}")
    config = load_config(environment, folder)
    client = await DaemonClient.connect(config, environment["PM_DAEMON_TOKEN"])
    pid = client.welcome.daemon_pid
    keeper = psutil.Process(pid).parent() if client.welcome.kept else None
    daemon = PmDaemon(folder, environment, client, pid, None if keeper is None else keeper.pid)
    left: list[psutil.Process] = []
    try:
        yield daemon
    finally:
        with contextlib.suppress(psutil.NoSuchProcess):
            left = psutil.Process(keeper.pid if keeper else pid).children(recursive=True)
        await client.close()
        daemon.cli("daemon", "stop")
        end_left(keeper, left)


async def until_idle(daemons: list[PmDaemon]) -> None:
    """Wait until the daemons are idle (under IDLE_CPU of a core over a window): what one still
    does after a flood (the last chunks indexed, its errors detected, its run concluded) must
    not weigh on the next figure."""
    deadline = time.perf_counter() + IDLE_DEADLINE_S
    while time.perf_counter() < deadline:
        before = sum(cpu_seconds(daemon.pid) for daemon in daemons)
        await asyncio.sleep(IDLE_WINDOW_S)
        if sum(cpu_seconds(daemon.pid) for daemon in daemons) - before < IDLE_CPU * IDLE_WINDOW_S:
            return
    raise TimeoutError("the daemons did not go idle")


def end_left(keeper: psutil.Process | None, left: list[psutil.Process]) -> None:
    """The keeper (a daemon stopped on purpose ends it too) and anything still alive, killed."""
    out = Measurements()
    if keeper is not None and keeper.is_running():
        with contextlib.suppress(psutil.NoSuchProcess):
            keeper.send_signal(signal.SIGTERM)
            keeper.wait(CLI_TIMEOUT_S)
    kill_all(left, "pm-actors", out)
    for note in out.notes:
        print(f"warning: {note}", file=sys.stderr)


@dataclass
class Peer:
    process: psutil.Popen
    proxy: Any
    folder: Path

    def rss_mb(self) -> float:
        return rss_mb(self.process.pid)


@contextlib.contextmanager
def supervisord(
    python: Path, folder: Path, programs: dict[str, str], logs: dict[str, Path], log: TextIO
) -> Iterator[Peer]:
    folder.mkdir(parents=True, exist_ok=True)
    process, proxy = start_supervisord(python, folder, supervisor_config(folder, programs, logs), log)
    try:
        yield Peer(process, proxy, folder)
    finally:
        shutdown(process, proxy)
        end_process(process, "supervisord", Measurements())


@dataclass
class Bench:
    """What every suite of `python -m bench` works with."""

    sizes: Sizes
    folder: Path
    log: TextIO
    pm: PmDaemon
    peer: Peer | None
    peer_missing: str
    """Why there is no peer (printed in place of its figures)."""
    report: Report

    def peer_row(self, figure: str, pm: Sample, goal: Goal, peer: Sample | None, what: str) -> None:
        """A figure compared with supervisord's `what`, or with a note saying why it is missing."""
        if peer is None:
            self.report.add(Row(figure, pm, goal, None, "supervisord", self.peer_missing))
        else:
            self.report.add(Row(figure, pm, goal, peer, f"supervisord {what}"))
