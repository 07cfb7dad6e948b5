"""Group start figures: start_group of N members with readiness lines, against N sequential
start_process + wait_for calls from a client, in the same run, over the daemon's socket.

Run: .venv/bin/python bench/bench_groups.py [--members 20] [--runs 5]

Starts a private daemon (own HOME, database, socket and token in a temp dir). Every member is the
same child: a Python that prints `READY` and sleeps. Each run, interleaved so drift hits all
alike, times (1) a client starting the N members one after the other, each start_process
followed by a wait_for of its `READY` line; (2) start_group of a group of the same N members in
4 orders (each order ready before the next: a stack in tiers); (3) start_group with every
member in its own order (strictly one after the other, the client's own sequence). Every run
ends with an untimed stop of what it started. Prints the median of each and its ratio to (1);
the goal is (2) <= 0.5x of (1). Prints to stdout only; every process it started is ended and
its temp dir removed on any exit path.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import psutil
from bench_daemon import connect_when_ready, private_folder, start_daemon

from pm_actors import api, group_requests
from pm_actors.ipc.client import DaemonClient
from pm_actors.specs import ReadyCondition

MEMBER = "import time\nprint('READY', flush=True)\ntime.sleep(600)"
"""Ready as soon as its interpreter runs: the figures are the manager's, plus one Python start each."""
READY = ReadyCondition(until="log_line", pattern="^READY", timeout_s=30)
TIERS = 4
"""Orders of the tiered group: a stack of database, migrations, services, front ends."""
STOP_DEADLINE_S = 20.0
GOAL_RATIO = 0.5


def member(name: str, order: int) -> group_requests.GroupMember:
    return group_requests.GroupMember(
        name=name, command=sys.executable, args=["-u", "-c", MEMBER], cwd="/", order=order, ready=READY
    )


async def sequential_client(client: DaemonClient, names: list[str]) -> float:
    """start_process + wait_for of each member in turn, as an agent without groups would."""
    began = time.perf_counter()
    for name in names:
        await client.call(
            api.StartProcess(name=name, command=sys.executable, args=["-u", "-c", MEMBER], cwd="/")
        )
        waited = await client.call(api.WaitFor(name=name, **msgspec.structs.asdict(READY)))
        assert waited.satisfied, waited.summary()
    elapsed = time.perf_counter() - began
    for name in names:
        await client.call(api.StopProcess(name=name))
    return elapsed


async def group_start(client: DaemonClient, group: str) -> float:
    began = time.perf_counter()
    started = await client.call(group_requests.StartGroup(group=group))
    elapsed = time.perf_counter() - began
    assert started.ok, started.summary()
    await client.call(group_requests.StopGroup(group=group, strategy="parallel"))
    return elapsed


async def measure(client: DaemonClient, members: int, runs: int) -> dict[str, list[float]]:
    per_tier = -(-members // TIERS)
    tiered = [member(f"tier-{i:02d}", i // per_tier) for i in range(members)]
    chain = [member(f"chain-{i:02d}", i) for i in range(members)]
    await client.call(group_requests.CreateGroup(name="tiered", members=tiered))
    await client.call(group_requests.CreateGroup(name="chain", members=chain))
    sequential = [f"seq-{i:02d}" for i in range(members)]
    times: dict[str, list[float]] = {"sequential": [], "tiered": [], "chain": []}
    await sequential_client(client, sequential)  # warm-up: first spawns, first inserts
    for _ in range(runs):
        times["sequential"].append(await sequential_client(client, sequential))
        times["tiered"].append(await group_start(client, "tiered"))
        times["chain"].append(await group_start(client, "chain"))
    return times


def report(times: dict[str, list[float]], members: int, runs: int) -> None:
    base = statistics.median(times["sequential"]) * 1000
    rows = [
        (f"{members} x (start_process + wait_for) from a client", base, None),
        (
            f"start_group, {TIERS} orders (each ready before the next)",
            statistics.median(times["tiered"]) * 1000,
            GOAL_RATIO,
        ),
        (
            f"start_group, {members} orders (one member at a time)",
            statistics.median(times["chain"]) * 1000,
            None,
        ),
    ]
    print(
        f"{members} members, each ready when it prints READY; p50 of {runs} interleaved runs, over the socket"
    )
    for label, ms, goal in rows:
        ratio = ms / base
        verdict = "" if goal is None else f"  goal <= {goal}x: {'met' if ratio <= goal else 'MISSED'}"
        print(f"  {label:<58} {ms:8.1f} ms  {ratio:5.2f}x{verdict}")


@contextlib.contextmanager
def daemon_in(folder: Path) -> Iterator[tuple[dict[str, str], psutil.Popen]]:
    """The same private daemon as bench_daemon.py's, SIGTERMed (stopping its children) at the end."""
    with (folder / "daemon.log").open("w") as log:
        env, daemon = start_daemon(folder, log)
        try:
            yield env, daemon
        finally:
            daemon.send_signal(signal.SIGTERM)  # stops every child it started
            try:
                daemon.wait(STOP_DEADLINE_S)
            except psutil.TimeoutExpired:
                daemon.kill()
                daemon.wait()


async def run(folder: Path, members: int, runs: int) -> dict[str, list[float]]:
    with daemon_in(folder) as (env, daemon):
        client = await connect_when_ready(env, folder, daemon)
        try:
            return await measure(client, members, runs)
        finally:
            await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--members", type=int, default=20, help="members of each group")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each way")
    arguments = parser.parse_args()
    # A SIGTERM to the bench unwinds like Ctrl-C, through the `finally` that stops the daemon.
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    with private_folder() as folder:
        times = asyncio.run(run(folder, arguments.members, arguments.runs))
    report(times, arguments.members, arguments.runs)


if __name__ == "__main__":
    main()
