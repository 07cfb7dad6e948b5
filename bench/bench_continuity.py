"""Continuity figures: a daemon under its keeper killed with SIGKILL, or restarted with SIGHUP.

Run: python bench/bench_continuity.py [--rounds N]

Starts `python -m pm_actors.app.keeper` (which starts the daemon) in a private temp dir, and one
child printing a numbered line every 10 ms. Then, N times: SIGKILL the daemon and time until a
new one answers a call (nobody asks it to start: the keeper does); then SIGHUP it (a planned
restart) and time the same. At the end it reads every stored line and counts the numbers
missing (what a killed daemon had read but not committed), and reports the keeper's memory.
Prints to stdout; every process it started is ended and its temp dir removed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from pm_actors.api import GetLogs, ListProcesses, StartProcess
from pm_actors.config import Config, load_config
from pm_actors.errors import DaemonUnavailable
from pm_actors.ipc.client import DaemonClient

COUNTER = "import time\nfor i in range(10**7):\n    print(i, flush=True)\n    time.sleep(0.01)"
DEADLINE_S = 30.0


def call(config: Config, request: object) -> object:
    async def once() -> object:
        async with await DaemonClient.connect(config) as client:
            return await client.call(request)  # type: ignore[arg-type]

    return asyncio.run(once())


def daemon_pid(config: Config) -> int:
    try:
        text = config.lock_path.read_text().strip()
    except FileNotFoundError:
        return 0
    return int(text) if text else 0


def serving_after(config: Config, old_pid: int) -> float:
    """Seconds from now until a daemon other than `old_pid` answers a call."""
    started = time.monotonic()
    while time.monotonic() - started < DEADLINE_S:
        if daemon_pid(config) not in (0, old_pid):
            try:
                call(config, ListProcesses())
                return time.monotonic() - started
            except DaemonUnavailable:
                pass  # a killed daemon's socket may take a connection before its threads end
        time.sleep(0.002)
    raise SystemExit(f"no daemon answered within {DEADLINE_S:g} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    folder = Path(tempfile.mkdtemp(prefix="pmc", dir="/tmp"))
    environment = dict(
        os.environ,
        HOME=str(folder / "home"),
        PM_DATABASE_PATH=str(folder / "pm.db"),
        PM_DAEMON_SOCKET_PATH=str(folder / "run" / "d.sock"),
        PM_DAEMON_TOKEN=secrets.token_hex(16),
        PM_ALLOWED_COMMANDS=f"{os.path.dirname(os.path.realpath(sys.executable))},/usr/bin,/bin",
    )
    config = load_config(environment)
    log = (folder / "keeper.log").open("wb")
    keeper = subprocess.Popen(
        [sys.executable, "-m", "pm_actors.app.keeper"], env=environment, cwd=folder, stdout=log, stderr=log
    )
    try:
        serving_after(config, -1)
        call(
            config, StartProcess(name="counter", command=sys.executable, args=["-u", "-c", COUNTER], cwd="/")
        )
        kills, restarts = [], []
        for _ in range(rounds):
            time.sleep(0.5)
            old = daemon_pid(config)
            psutil.Process(old).kill()
            kills.append(serving_after(config, old))
            time.sleep(0.5)
            old = daemon_pid(config)
            os.kill(old, signal.SIGHUP)
            restarts.append(serving_after(config, old))
        time.sleep(0.5)
        page = call(config, GetLogs(name="counter", limit=10_000))
        numbers = [int(line.text) for line in page.lines]  # type: ignore[attr-defined]
        missing = len(set(range(numbers[-1] + 1)) - set(numbers))
        keeper_mb = psutil.Process(keeper.pid).memory_info().rss / 1_048_576
        print(f"{'figure':<52} {'p50':>9} {'min':>9} {'max':>9}")
        for label, values in (
            ("SIGKILL of the daemon -> a new one answers (s)", kills),
            ("SIGHUP (planned restart) -> the next answers (s)", restarts),
        ):
            print(f"{label:<52} {statistics.median(values):>9.3f} {min(values):>9.3f} {max(values):>9.3f}")
        print(f"lines printed by the child {numbers[-1] + 1}, missing after {rounds} kills: {missing}")
        print(f"keeper RSS: {keeper_mb:.1f} MiB")
    finally:
        keeper.send_signal(signal.SIGTERM)
        try:
            keeper.wait(timeout=DEADLINE_S)
        except subprocess.TimeoutExpired:
            keeper.kill()
        print((folder / "keeper.log").read_text()[-1500:]) if keeper.returncode not in (0, None) else None
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
