"""Log figures of a daemon through its socket: a 1M-line store searched, ingest with and without
retention, and with and without error detection.

Run: python bench/bench_logs.py [--lines N] [--cap-mb M] [--rounds R]

1. A daemon with the default retention stores what a flood child prints (N log-like lines,
   ConnectionRefusedError and TypeError lines among them): lines/s from start_process until the
   state `exited` (every line committed), and seconds until every line is searchable and
   every error counted (the searches below begin then).
2. On those N lines, search_logs through the socket (DaemonClient), p50 / p90: words (a rare and
   a common query), phrase, a word inside identifiers (`Error` finds ConnectionRefusedError and
   TypeError), a level filter, substring, and regex (bounded: it scans a window of lines, and
   says so). Target: words, phrase and identifier p50 <= 5 ms.
3. A second daemon, with PM_MAX_LOG_SIZE_MB=M (default 10), takes the same flood while
   retention trims it all along: its lines/s and the ratio to the first, then the text it keeps
   and the size of its file once the trim is done.
4. Daemons with error tracking on and off (PM_ERROR_TRACKING), R rounds of each, alternating so
   that drift of the machine weighs on both: the median lines/s of each and their ratio (the
   goal: detection, behind its mark in the writer's idle time, costs capture < 5 %), and how
   long after start_process every error of the flood was counted.
Prints to stdout only; every process it started is ended and its temp dir removed.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import statistics
import sys
import time
from pathlib import Path
from typing import TextIO

import apsw
from bench_daemon import (
    FLOOD_DEADLINE_S,
    FLOOD_LINE,
    FLOOD_LOOP,
    POLL_INTERVAL_S,
    SEARCH_RUNS,
    Latency,
    Measurements,
    connect_when_ready,
    end_process,
    private_folder,
    start_daemon,
    time_async,
)

from pm_actors import api, error_requests
from pm_actors.actors.retention import CHARS_PER_MB
from pm_actors.ipc.client import DaemonClient
from pm_actors.states import ENDED_STATES, ProcessState

FLOOD_SCRIPT = (
    FLOOD_LINE.replace("def line(i):", "def plain_line(i):")
    + """
def line(i):
    if i % 97 == 0:
        return f"{i:07d} ERROR ConnectionRefusedError: [Errno 111] db-{i % 7}:5432 refused\\n"
    if i % 89 == 0:
        return f"{i:07d} ERROR TypeError: unsupported operand in handler_{i % 13}\\n"
    return plain_line(i)
"""
    + FLOOD_LOOP
)
"""N log-like lines as fast as Python prints them; one in about fifty names an exception."""

SEARCH_TARGET_MS = 5.0


async def flood(client: DaemonClient, script: Path, lines: int) -> float:
    """Lines/s from start_process until the flood child is `exited` (every line committed)."""
    started = time.perf_counter()
    await client.call(
        api.StartProcess(name="flood", command=sys.executable, args=[str(script), str(lines)], cwd="/")
    )
    deadline = started + FLOOD_DEADLINE_S
    while time.perf_counter() < deadline:
        listing = await client.call(api.ListProcesses())
        state = next(record.state for record in listing.processes if record.name == "flood")
        if state in ENDED_STATES:
            if state is not ProcessState.EXITED:
                raise RuntimeError(f"the flood child ended {state.value}")
            return lines / (time.perf_counter() - started)
        await asyncio.sleep(POLL_INTERVAL_S)
    raise TimeoutError("the flood child did not end in time")


async def seconds_until_indexed(client: DaemonClient, started: float) -> float:
    probe = api.SearchLogs(query="request", name="flood", limit=1)
    while (await client.call(probe)).unindexed:
        if time.perf_counter() > started + FLOOD_DEADLINE_S:
            raise TimeoutError("the flood was not indexed in time")
        await asyncio.sleep(POLL_INTERVAL_S)
    return time.perf_counter() - started


def search_cases(lines: int) -> list[tuple[str, api.SearchLogs]]:
    rare = str(lines * 7 // 9)
    return [
        ("words, rare", api.SearchLogs(query=rare)),
        ("words, common", api.SearchLogs(query="upstream request")),
        ("phrase", api.SearchLogs(query="status 500", mode="phrase")),
        ("identifier: Error", api.SearchLogs(query="Error")),
        ("identifier: refused", api.SearchLogs(query="refused", name="flood")),
        ("level error", api.SearchLogs(query="handler", level="error")),
        ("substring", api.SearchLogs(query=f"id={rare} ", mode="substring")),
        ("regex, matches", api.SearchLogs(query=r"status=500 took 9\dms", mode="regex")),
        ("regex, no match", api.SearchLogs(query=r"never printed \d+", mode="regex")),
    ]


async def searches(client: DaemonClient, lines: int) -> None:
    print(f"search_logs on {lines:,} stored lines, through the socket (limit 100):")
    print(f"  {'query':<22} {'p50 ms':>8} {'p90 ms':>8}  matches, how it ended")
    for label, request in search_cases(lines):
        result = await client.call(request)
        if not result.matches and "no match" not in label:
            raise RuntimeError(f"{request!r} found nothing")
        latency: Latency = await time_async(functools.partial(client.call, request), SEARCH_RUNS)
        ended = result.stopped or ("more" if result.has_more else "all")
        target = (
            f"  (target p50 <= {SEARCH_TARGET_MS:g} ms)"
            if label.startswith(("words", "phrase", "ident"))
            else ""
        )
        found = f"{len(result.matches)}, {ended}{target}"
        print(f"  {label:<22} {latency.p50_ms:8.2f} {latency.p90_ms:8.2f}  {found}")


def stored_text(database: Path) -> tuple[int, int]:
    """(lines, characters) stored, read beside the daemon's writer."""
    connection = apsw.Connection(str(database), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        lines = connection.execute("SELECT count(*) FROM logs").get
        chars = connection.execute("SELECT coalesce(sum(length(line)), 0) FROM logs").get
    finally:
        connection.close()
    return int(str(lines)), int(str(chars))


def file_mb(path: Path) -> float:
    return path.stat().st_size / (1024 * 1024) if path.exists() else 0.0


async def without_retention(folder: Path, script: Path, lines: int, log: TextIO, out: Measurements) -> float:
    environment, daemon = start_daemon(folder, log)
    try:
        async with await connect_when_ready(environment, folder, daemon) as client:
            started = time.perf_counter()
            rate = await flood(client, script, lines)
            indexed_s = await seconds_until_indexed(client, started)
            counted_s, _ = await seconds_until_errors_counted(client, started)
            print(f"ingest of {lines:,} lines, default retention: {rate:,.0f} lines/s until all committed;")
            print(
                f"  every line searchable {indexed_s:.1f} s after start_process, every error counted "
                f"{counted_s:.1f} s after (searches meanwhile wait up to a 2 ms detection step)"
            )
            await searches(client, lines)
    finally:
        end_process(daemon, "pm-actors daemon", out)
    return rate


async def with_retention(
    folder: Path, script: Path, lines: int, cap_mb: int, log: TextIO, out: Measurements
) -> float:
    environment, daemon = start_daemon(folder, log, PM_MAX_LOG_SIZE_MB=str(cap_mb))
    database = Path(environment["PM_DATABASE_PATH"])
    try:
        async with await connect_when_ready(environment, folder, daemon) as client:
            rate = await flood(client, script, lines)
            started = time.perf_counter()
            while stored_text(database)[1] > cap_mb * CHARS_PER_MB:
                if time.perf_counter() > started + FLOOD_DEADLINE_S:
                    raise TimeoutError("the trim did not reach the size limit in time")
                await asyncio.sleep(POLL_INTERVAL_S)
            trimmed_s = time.perf_counter() - started
            kept_lines, kept_chars = stored_text(database)
            print(
                f"ingest of {lines:,} lines, PM_MAX_LOG_SIZE_MB={cap_mb}: {rate:,.0f} lines/s, all committed;"
            )
            print(
                f"  within the limit {trimmed_s:.1f} s after the end: {kept_lines:,} lines, "
                f"{kept_chars / CHARS_PER_MB:.1f} MB of text kept; database file {file_mb(database):.1f} MB, "
                f"WAL {file_mb(Path(f'{database}-wal')):.1f} MB"
            )
    finally:
        end_process(daemon, "pm-actors daemon", out)
    return rate


async def flood_once(
    folder: Path, script: Path, lines: int, tracking: bool, log: TextIO, out: Measurements
) -> float:
    """Lines/s of one flood into a fresh daemon with error tracking on or off; with it on, also
    waits until every error of the flood is counted and says when."""
    folder.mkdir()
    environment, daemon = start_daemon(folder, log, PM_ERROR_TRACKING=str(tracking).lower())
    try:
        async with await connect_when_ready(environment, folder, daemon) as client:
            started = time.perf_counter()
            rate = await flood(client, script, lines)
            if tracking:
                counted_s, errors = await seconds_until_errors_counted(client, started)
                counted = f"{errors:,} error lines counted {counted_s:.1f} s after start_process"
                print(f"  tracking on: {rate:,.0f} lines/s; {counted}")
            else:
                print(f"  tracking off: {rate:,.0f} lines/s")
    finally:
        end_process(daemon, "pm-actors daemon", out)
    return rate


async def seconds_until_errors_counted(client: DaemonClient, started: float) -> tuple[float, int]:
    """Until get_errors has looked at every line of the flood: (seconds, occurrences counted)."""
    while (listing := await client.call(error_requests.GetErrors(name="flood", limit=100))).unchecked_lines:
        if time.perf_counter() > started + FLOOD_DEADLINE_S:
            raise TimeoutError("the flood's errors were not counted in time")
        await asyncio.sleep(POLL_INTERVAL_S)
    return time.perf_counter() - started, sum(error.count for error in listing.errors)


async def detection_cost(
    folder: Path, script: Path, lines: int, rounds: int, log: TextIO, out: Measurements
) -> None:
    print(f"ingest of {lines:,} lines with error tracking on and off, {rounds} rounds alternating:")
    rates: dict[bool, list[float]] = {True: [], False: []}
    for round_number in range(rounds):
        order = (True, False) if round_number % 2 == 0 else (False, True)
        for tracking in order:
            where = folder / f"{'on' if tracking else 'off'}-{round_number}"
            rates[tracking].append(await flood_once(where, script, lines, tracking, log, out))
    on, off = statistics.median(rates[True]), statistics.median(rates[False])
    print(f"ingest with error detection / without (medians): {on:,.0f} / {off:,.0f} lines/s = {on / off:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000, help="lines the flood child prints")
    parser.add_argument("--cap-mb", type=int, default=10, help="PM_MAX_LOG_SIZE_MB of the second daemon")
    parser.add_argument("--rounds", type=int, default=3, help="floods with error tracking on, and off")
    arguments = parser.parse_args()
    out = Measurements()
    with private_folder() as folder:
        script = folder / "flood.py"
        script.write_text(FLOOD_SCRIPT)
        with (folder / "daemons.log").open("w") as log:
            os.mkdir(folder / "keep")
            os.mkdir(folder / "trim")
            os.mkdir(folder / "errors")
            plain = asyncio.run(without_retention(folder / "keep", script, arguments.lines, log, out))
            trimmed = asyncio.run(
                with_retention(folder / "trim", script, arguments.lines, arguments.cap_mb, log, out)
            )
            asyncio.run(
                detection_cost(folder / "errors", script, arguments.lines, arguments.rounds, log, out)
            )
        print(f"ingest with retention trimming / without: {trimmed / plain:.2f}")
        for note in out.notes:
            print(f"note: {note}")


if __name__ == "__main__":
    main()
