"""Flood capture: a chatty child's every line stored, beside supervisord copying it to a flat file.

Two kinds of child print the same numbered log-like lines: one writes each line by itself
(an unbuffered program: a write per line) and one writes a thousand lines at a time (a
block-buffered one). For each, in turn: pm-actors from start_process until the child is
`exited` (reported only once every line is committed; then checked: none lost, and the time
until every line is searchable), supervisord from startProcess until its log file holds every
byte, and the floor, the child alone writing to /dev/null. Then the physical floor of storing:
apsw inserting the same rows in one process. Then, in three fresh daemons taking the same
floods in turn (a block flood with a traceback after every thousand lines): ingest with
retention trimming all along against ingest without, and ingest with error detection against
ingest with it turned off.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import msgspec
from bench_daemon import FLOOD_LINE, FLOOD_SCRIPT, cpu_seconds
from managers import Bench, PmDaemon, pm_daemon, until_idle
from report import Goal, Row, Sample

from pm_actors import api, error_requests
from pm_actors.actors.log_writes import INSERT_CHUNK
from pm_actors.actors.messages import STDOUT
from pm_actors.actors.store import open_write_connection
from pm_actors.states import ProcessState

UNBUFFERED_SCRIPT = (
    FLOOD_LINE
    + """
import os
import sys

for i in range(int(sys.argv[1])):
    os.write(1, line(i).encode())
"""
)
"""The same lines as FLOOD_SCRIPT's, one write each."""
KINDS = {"unbuffered": UNBUFFERED_SCRIPT, "block": FLOOD_SCRIPT}
KIND_LABELS = {"unbuffered": "a write per line", "block": "block-buffered"}
DEADLINE_S = 300.0
POLL_S = 0.001
SEARCHABLE_GOAL_S = 1.0
RETENTION_CAP_MB = 5
"""Far below what a flood writes (300,000 lines hold ~21 MB of text): trimming runs all along."""
FLOOR_TRANSACTION_LINES = 10_000
ERRORS_COUNTED_GOAL_S = 5.0
"""Detection waits out a flood (it would take the IO thread's turns at the interpreter lock) and
catches up after: every error of the flood counted within a few seconds of its end."""
TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/srv/worker.py", line 12, in handle\n'
    "    process(job)\n"
    "ValueError: bad job {start}\n"
)
ERROR_FLOOD_SCRIPT = (
    FLOOD_LINE
    + f"""
import sys

TRACEBACK = {TRACEBACK!r}
total = int(sys.argv[1])
out = sys.stdout.buffer
for start in range(0, total, 1000):
    block = "".join(line(i) for i in range(start, min(start + 1000, total)))
    out.write((block + TRACEBACK.format(start=start)).encode())
"""
)
"""The block flood with the same traceback (one error, counted) after every thousand lines."""


@dataclass(frozen=True)
class Expected:
    """What the child prints, read once from a file: the check of what a manager stored."""

    rows: list[str]
    size: int
    argument: int
    """What the child was given: how many numbered lines to print."""

    @property
    def lines(self) -> int:
        return len(self.rows)

    @property
    def first(self) -> str:
        return self.rows[0]

    @property
    def last(self) -> str:
        return self.rows[-1]


def write_scripts(folder: Path) -> dict[str, Path]:
    paths = {}
    for kind, script in KINDS.items():
        paths[kind] = folder / f"flood_{kind}.py"
        paths[kind].write_text(script)
    return paths


def peer_programs(
    scripts: dict[str, Path], lines: int, folder: Path
) -> tuple[dict[str, str], dict[str, Path]]:
    programs = {f"flood-{kind}": f"{sys.executable} {path} {lines}" for kind, path in scripts.items()}
    return programs, {name: folder / f"{name}.log" for name in programs}


def expected_output(script: Path, lines: int, folder: Path) -> Expected:
    path = folder / f"{script.stem}.out"
    with path.open("wb") as out:
        subprocess.run([sys.executable, str(script), str(lines)], stdout=out, check=True)
    data = path.read_bytes()
    path.unlink()
    return Expected(data.decode().splitlines(), len(data), lines)


def alone(script: Path, lines: int) -> float:
    """The floor: the child alone, writing to /dev/null."""
    started = time.perf_counter()
    subprocess.run([sys.executable, str(script), str(lines)], stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


async def pm_flood(
    pm: PmDaemon, name: str, script: Path, expected: Expected, trimmed: bool = False
) -> tuple[float, float, float]:
    """(seconds from start_process to every line stored, daemon CPU %, seconds from then until
    every line is searchable). Every line is checked to be there, unless retention `trimmed` them."""
    client = pm.client
    cpu_before = cpu_seconds(pm.pid)
    started = time.perf_counter()
    await client.call(
        api.StartProcess(
            name=name, command=sys.executable, args=[str(script), str(expected.argument)], cwd="/"
        )
    )
    state = await wait_until_ended(pm, name)
    elapsed = time.perf_counter() - started
    cpu = (cpu_seconds(pm.pid) - cpu_before) / elapsed * 100
    if state != ProcessState.EXITED:
        raise RuntimeError(f"the flood child ended {state}, not exited")
    if not trimmed:
        await check_complete(pm, name, expected)
    probe = api.SearchLogs(query=expected.last.split()[0], name=name, mode="words", limit=1)
    ended = time.perf_counter()
    while (result := await client.call(probe)).unindexed or not result.matches:
        if time.perf_counter() > ended + DEADLINE_S:
            raise TimeoutError("the flood was not indexed in time")
        await asyncio.sleep(POLL_S)
    return elapsed, cpu, time.perf_counter() - ended


async def wait_until_ended(pm: PmDaemon, name: str) -> ProcessState:
    """One wait_for call rather than polling: a poll every millisecond would cost the daemon a
    tenth of a core during the flood (supervisord's figure costs it nothing: a stat of its log
    file). The WaitActor looks every 10 ms: at most that much late."""
    result = await pm.client.call(api.WaitFor(name=name, until="exited", timeout_s=DEADLINE_S))
    if not result.satisfied:
        raise TimeoutError(f"{name} did not end in time")
    return ProcessState(result.state)


async def check_complete(pm: PmDaemon, name: str, expected: Expected) -> None:
    """None lost: ids contiguous from the first line to the last, and both the right text."""
    first = (await pm.client.call(api.GetLogs(name=name, limit=1))).lines[0]
    last = (await pm.client.call(api.TailLogs(name=name, limit=1))).lines[0]
    stored = last.id - first.id + 1
    if (stored, first.text, last.text) != (expected.lines, expected.first, expected.last):
        raise RuntimeError(f"{name}: {stored:,} lines stored of {expected.lines:,}, or not the lines printed")


def peer_flood(bench: Bench, kind: str, expected: Expected) -> tuple[float, float]:
    """(seconds from startProcess until the log file holds every byte, supervisord's CPU %)."""
    assert bench.peer is not None
    name = f"flood-{kind}"
    log = bench.peer.folder / f"{name}.log"
    before = log.stat().st_size if log.exists() else 0
    cpu_before = cpu_seconds(bench.peer.process.pid)
    started = time.perf_counter()
    bench.peer.proxy.startProcess(name, True)
    while not log.exists() or log.stat().st_size < before + expected.size:
        if time.perf_counter() > started + DEADLINE_S:
            raise TimeoutError(f"supervisord's {name} log did not grow by {expected.size:,} bytes")
        time.sleep(POLL_S)
    elapsed = time.perf_counter() - started
    return elapsed, (cpu_seconds(bench.peer.process.pid) - cpu_before) / elapsed * 100


async def measure(bench: Bench, scripts: dict[str, Path]) -> None:
    lines, runs = bench.sizes.flood_lines, bench.sizes.flood_runs
    for kind, script in scripts.items():
        expected = expected_output(script, lines, bench.folder)
        pm_times, pm_cpu, searchable, peer_times, peer_cpu, floor = [], [], [], [], [], []
        for run in range(runs):
            elapsed, cpu, indexed = await pm_flood(bench.pm, f"flood-{kind}-{run}", script, expected)
            pm_times.append(elapsed)
            pm_cpu.append(cpu)
            searchable.append(indexed)
            await until_idle([bench.pm])  # supervisord and the child alone get a quiet machine too
            if bench.peer is not None:
                elapsed, cpu = peer_flood(bench, kind, expected)
                peer_times.append(elapsed)
                peer_cpu.append(cpu)
            floor.append(alone(script, lines))
        label = f"flood of {lines:,} lines, {KIND_LABELS[kind]}: all stored"
        pm_sample = Sample.of(pm_times, "s")
        peer_sample = Sample.of(peer_times, "s") if peer_times else None
        bench.peer_row(label, pm_sample, Goal.ratio_at_most(1.0), peer_sample, "to its log file")
        floor_sample = Sample.of(floor, "s")
        bench.report.add(
            Row("  the same beside the floor", pm_sample, Goal.context(), floor_sample, "child alone")
        )
        searchable_sample = Sample.of(searchable, "s")
        bench.report.add(
            Row("  then every line searchable", searchable_sample, Goal.at_most(SEARCHABLE_GOAL_S, "s"))
        )
        peer_cpu_sample = Sample.of(peer_cpu, "%") if peer_cpu else None
        bench.peer_row(
            "  manager CPU during the flood", Sample.of(pm_cpu, "%"), Goal.context(), peer_cpu_sample, "CPU"
        )
        if kind == "block":
            store_floor(bench, expected, pm_sample)
    bench.report.notes.append(f"every flood was checked: {lines:,} lines stored each time, none lost")


def store_alone(database: Path, texts: list[str]) -> float:
    """Seconds for apsw alone to store `texts` as rows of the logs table (its schema and index),
    10,000 a transaction, with the fastest statement we know (the writer's json_each)."""
    connection = open_write_connection(database)
    started = time.perf_counter()
    now = time.time()
    for first in range(0, len(texts), FLOOR_TRANSACTION_LINES):
        chunk = texts[first : first + FLOOR_TRANSACTION_LINES]
        with connection:
            connection.execute(
                INSERT_CHUNK, (first + 1, 1, 1, STDOUT, now, msgspec.json.encode(chunk).decode())
            )
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed


def store_floor(bench: Bench, expected: Expected, pm_sample: Sample) -> None:
    """The floor of storing: apsw inserting the same rows in one process."""
    seconds = [
        store_alone(bench.folder / f"floor-{run}.db", expected.rows) for run in range(bench.sizes.flood_runs)
    ]
    bench.report.add(
        Row(
            "  the block flood beside storing alone",
            pm_sample,
            Goal.context(),
            Sample.of(seconds, "s"),
            "apsw alone",
        )
    )


async def retention(bench: Bench) -> None:
    """Ingest while retention trims all along, and with error detection turned off, against
    ingest with neither, in three daemons taking the same floods in turn."""
    lines, runs = bench.sizes.flood_lines, bench.sizes.flood_runs
    script = bench.folder / "flood_errors.py"
    script.write_text(ERROR_FLOOD_SCRIPT)
    expected = expected_output(script, lines, bench.folder)
    tracebacks = -(-lines // 1000)
    kept, trimmed, untracked, counted = [], [], [], []
    async with (
        pm_daemon(bench.folder / "keep") as keep,
        pm_daemon(bench.folder / "trim", PM_MAX_LOG_SIZE_MB=str(RETENTION_CAP_MB)) as trim,
        pm_daemon(bench.folder / "untracked", PM_ERROR_TRACKING="false") as untracked_daemon,
    ):
        for run in range(runs):
            for turn in range(run, run + 3):  # each first in turn
                await until_idle([keep, trim, untracked_daemon])
                if turn % 3 == 0:
                    kept.append((await pm_flood(keep, f"keep-{run}", script, expected))[0])
                    ended = time.perf_counter()
                    await errors_counted(keep, f"keep-{run}", tracebacks)
                    counted.append(time.perf_counter() - ended)
                elif turn % 3 == 1:
                    trim_flood = pm_flood(trim, f"trim-{run}", script, expected, trimmed=True)
                    trimmed.append((await trim_flood)[0])
                else:
                    untracked.append((await pm_flood(untracked_daemon, f"off-{run}", script, expected))[0])
    label = f"flood of {lines:,} lines with {tracebacks:,} tracebacks"
    kept_sample = Sample.of(kept, "s")
    bench.report.add(
        Row(
            f"{label}, retention trimming (cap {RETENTION_CAP_MB} MB)",
            Sample.of(trimmed, "s"),
            Goal.ratio_at_most(1.05),
            kept_sample,
            "no trimming",
        )
    )
    bench.report.add(
        Row(
            f"{label}, error detection on",
            kept_sample,
            Goal.ratio_at_most(1.05),
            Sample.of(untracked, "s"),
            "detection off",
        )
    )
    bench.report.add(
        Row(
            "  then every traceback counted as one error",
            Sample.of(counted, "s"),
            Goal.at_most(ERRORS_COUNTED_GOAL_S, "s"),
        )
    )


async def errors_counted(pm: PmDaemon, name: str, tracebacks: int) -> None:
    """Wait until the flood's tracebacks are one error counted `tracebacks` times."""
    request = error_requests.GetErrors(name=name, limit=5)
    deadline = time.perf_counter() + DEADLINE_S
    while True:
        found = await pm.client.call(request)
        counts = [error.count for error in found.errors if error.category == "unhandled_exception"]
        if counts == [tracebacks] and not found.unchecked_lines:
            return
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{name}: errors {counts}, not one counted {tracebacks} times")
        await asyncio.sleep(POLL_S * 10)
