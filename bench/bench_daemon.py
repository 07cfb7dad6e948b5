"""Daemon figures end to end: a real `pm-actors daemon`, over its socket and through MCP, beside supervisord.

Run: python bench/bench_daemon.py [--lines N] [--no-peer]

Starts a private daemon (own HOME, database, socket and token in a temp dir) and measures, each
latency as p50 / p90 over many runs:
- start_process until `running` over the socket (DaemonClient) and through MCP (the `mcp` SDK's
  own client over stdio, talking to `pm-actors mcp`); each start is followed by an untimed stop;
- list_processes with 1 and with 50 managed processes, over the socket and through MCP;
- capture of one child flooding N short lines: from start_process to the `exited` state, which is
  reported only once every line is committed (FTS5-indexed), and a check that none was lost;
- search_logs on those N rows: words, phrase and substring;
- the daemon's RSS idle and with 50 idle children, and its CPU use supervising them.
Then, in the same run, the same work for supervisord (bench/peer.py installs it) over XML-RPC, and the ratio
pm-actors / supervisord of each shared figure. Targets: bench/README.md. Prints to stdout
only; every process it started is ended and its temp dir removed on any exit path.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import functools
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import psutil
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPDeprecationWarning
from peer import peer_python, shutdown, start_supervisord, stop_and_wait, supervisor_config, wait_for_exec
from report import timed, timed_async

from pm_actors import api
from pm_actors.config import load_config
from pm_actors.errors import DaemonUnavailable
from pm_actors.ipc.client import DaemonClient
from pm_actors.states import ENDED_STATES, ProcessState

PYTHON_ROOT = os.path.dirname(os.path.realpath(sys.executable))
PM_ACTORS = os.path.join(os.path.dirname(sys.executable), "pm-actors")
SLEEP = "/bin/sleep"
IDLE_CHILDREN = 50
START_RUNS = 200
MCP_START_RUNS = 100
LIST_RUNS = 500
MCP_LIST_RUNS = 200
SEARCH_RUNS = 21
SUBSTRING_RUNS = 7
WARMUP_RUNS = 5
CPU_WINDOW_S = 5.0
STARTUP_DEADLINE_S = 20.0
FLOOD_DEADLINE_S = 120.0
POLL_INTERVAL_S = 0.01
INSTALL_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 1.0
"""The sleeps end at SIGTERM; a short timeout lets the daemon's stop timers lapse before the idle figures."""
SETTLE_S = STOP_TIMEOUT_S + 0.5
"""Wait before measuring RSS and idle CPU: starts flushed, the stop timers of the latency loops run."""
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception): ")
"""The last line of a traceback in the daemon's log: `module.SomeError: message`."""

FLOOD_LINE = """\
WORDS = ("alpha", "beta", "gamma", "delta", "cache", "queue", "upstream", "session")


def line(i):
    status = 500 if i % 50 == 0 else 200
    return f"{i:07d} worker-{i % 16} {WORDS[i % 8]} request id={i} status={status} took {i % 97}ms\\n"
"""
"""`line(i)`: the i-th line the flood child prints."""

FLOOD_LOOP = """
import sys

total = int(sys.argv[1])
out = sys.stdout.buffer
for start in range(0, total, 1000):
    out.write("".join(line(i) for i in range(start, min(start + 1000, total))).encode())
out.flush()
"""
"""Prints `line(i)` for i below its argument, a thousand lines per write."""

FLOOD_SCRIPT = FLOOD_LINE + FLOOD_LOOP
"""The chatty child, the same for both managers: N short log-like lines, as fast as it can."""


WAIT_RUNS = 20
READY_CHILD = "import time\ntime.sleep(0.1)\nprint('READY', time.time(), flush=True)\ntime.sleep(60)"
"""Prints its ready line with the wall-clock time it printed it, for the wait_for latency."""


# Figures -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Latency:
    p50_ms: float
    p90_ms: float

    @classmethod
    def of(cls, seconds: list[float]) -> Latency:
        return cls.of_ms([value * 1000 for value in seconds])

    @classmethod
    def of_ms(cls, milliseconds: Sequence[float]) -> Latency:
        deciles = statistics.quantiles(milliseconds, n=10, method="inclusive")
        return cls(statistics.median(milliseconds), deciles[8])


@dataclass
class Measurements:
    """What one manager scored, by key (see FIGURES); missing keys print as '-'."""

    latencies: dict[str, Latency] = field(default_factory=dict)
    amounts: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Figure:
    label: str
    key: str
    target: str
    unit: str = "ms"
    peer_key: str | None = None


FIGURES = (
    Figure("start_process until running, socket", "start.socket", "p50 <= 5 ms", peer_key="start"),
    Figure("start_process until running, MCP", "start.mcp", "p50 <= 5 ms", peer_key="start"),
    Figure("list_processes, 1 process, socket", "list1.socket", "p50 <= 0.5 ms", peer_key="info.one"),
    Figure("list_processes, 1 process, MCP", "list1.mcp", "p50 <= 2 ms", peer_key="info.one"),
    Figure("list_processes, 50 running, socket", "list50.socket", "-", peer_key="info.all"),
    Figure("list_processes, 50 running, MCP", "list50.mcp", "-", peer_key="info.all"),
    Figure("MCP ping (SDK + stdio floor)", "ping.mcp", "-"),
    Figure("wait_for: line printed to call returned", "wait.log", "milliseconds"),
    Figure("flood child alone, to a counting pipe", "flood.alone", "-", "lines/s"),
    Figure("flood captured, start to all stored", "flood.rate", ">= 150,000", "lines/s", "flood.rate"),
    Figure("manager CPU during the flood", "flood.cpu", "-", "% core", "flood.cpu"),
    Figure("flood: start to all lines searchable", "flood.indexed", "-", "s"),
    Figure("search words, rare id (1 match)", "search.words", "p50 <= 5 ms"),
    Figure("search words, 2 common words", "search.words2", "p50 <= 5 ms"),
    Figure("search phrase 'status 500'", "search.phrase", "p50 <= 5 ms"),
    Figure("search substring, rare id", "search.substring", "p50 <= 150 ms"),
    Figure("search substring, absent text", "search.absent", "p50 <= 150 ms"),
    Figure("search words, rare id, MCP", "search.mcp", "p50 <= 5 ms"),
    Figure("RSS idle", "rss.idle", "-", "MB", "rss.idle"),
    Figure("RSS with 50 idle children", "rss.50", "<= 40 MB", "MB", "rss.50"),
    Figure("RSS after the flood and searches", "rss.after", "-", "MB"),
    Figure("CPU supervising 50 idle children", "cpu.50", "-", "% core", "cpu.50"),
)

PEER_LABELS = {
    "start": "startProcess(wait=True)",
    "info.one": "getProcessInfo",
    "info.all": "getAllProcessInfo",
}


def format_value(measurements: Measurements, key: str | None, unit: str) -> str:
    if key is None:
        return "-"
    if key in measurements.latencies:
        latency = measurements.latencies[key]
        return f"{latency.p50_ms:.3f} / {latency.p90_ms:.3f} ms"
    if key in measurements.amounts:
        amount = measurements.amounts[key]
        return f"{amount:,.0f} {unit}" if amount >= 1000 else f"{amount:.1f} {unit}"
    return "-"


def ratio(pm: Measurements, peer: Measurements, key: str, peer_key: str | None) -> str:
    if peer_key is None:
        return "-"
    if key in pm.latencies and peer_key in peer.latencies:
        return f"{pm.latencies[key].p50_ms / peer.latencies[peer_key].p50_ms:.2f}"
    if key in pm.amounts and peer.amounts.get(peer_key):
        return f"{pm.amounts[key] / peer.amounts[peer_key]:.2f}"
    return "-"


def print_table(pm: Measurements, peer: Measurements) -> None:
    header = ("figure", "pm-actors (p50 / p90)", "target", "supervisord", "pm/peer")
    rows = [header]
    for figure in FIGURES:
        rows.append(
            (
                figure.label,
                format_value(pm, figure.key, figure.unit),
                figure.target,
                format_value(peer, figure.peer_key, figure.unit),
                ratio(pm, peer, figure.key, figure.peer_key),
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    for number, row in enumerate(rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        if number == 0:
            print("  ".join("-" * width for width in widths))
    print("supervisord calls: " + ", ".join(f"{key} = {name}" for key, name in PEER_LABELS.items()))
    print("pm/peer: ratio of p50s or amounts; below 1 is better for times, MB and CPU, above 1 for lines/s")
    for who, measurements in (("pm-actors", pm), ("supervisord", peer)):
        for note in measurements.notes:
            print(f"{who}: {note}")


# Timing ------------------------------------------------------------------------------------


async def time_async(
    action: Callable[[], Awaitable[Any]],
    runs: int,
    after: Callable[[], Awaitable[Any]] | None = None,
) -> Latency:
    """Latency of `action` over `runs` runs after a few warm-up runs; `after` is run untimed."""
    return Latency.of_ms((await timed_async(action, runs, after, WARMUP_RUNS)).values)


def time_sync(action: Callable[[], Any], runs: int, after: Callable[[], Any] | None = None) -> Latency:
    return Latency.of_ms(timed(action, runs, after, WARMUP_RUNS).values)


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / (1024 * 1024)


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def cpu_percent_over(pid: int, window_s: float) -> float:
    """CPU use of `pid` over `window_s` of wall time, in percent of one core."""
    before, started = cpu_seconds(pid), time.monotonic()
    time.sleep(window_s)
    return (cpu_seconds(pid) - before) / (time.monotonic() - started) * 100


# The flood child alone ----------------------------------------------------------------------


@dataclass(frozen=True)
class FloodOutput:
    """What the flood child prints, read once through a pipe that only counts."""

    lines: int
    size: int
    first: str
    last: str
    rate: float


def flood_alone(script: Path, lines: int) -> FloodOutput:
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, str(script), str(lines)], stdout=subprocess.PIPE)
    assert child.stdout is not None
    size, count, head, tail = 0, 0, b"", b""
    while chunk := child.stdout.read(1 << 20):
        size += len(chunk)
        count += chunk.count(b"\n")
        head = head or chunk[:200]
        tail = (tail + chunk)[-200:]
    child.wait()
    rate = lines / (time.perf_counter() - started)
    first = head.split(b"\n")[0].decode()
    last = tail.rstrip(b"\n").split(b"\n")[-1].decode()
    return FloodOutput(count, size, first, last, rate)


# pm-actors ---------------------------------------------------------------------------------


def pm_environment(folder: Path) -> dict[str, str]:
    return {
        "HOME": str(folder / "home"),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PM_DATABASE_PATH": str(folder / "pm.db"),
        "PM_DAEMON_SOCKET_PATH": str(folder / "run" / "d.sock"),
        "PM_DAEMON_TOKEN": secrets.token_hex(16),
        "PM_ALLOWED_COMMANDS": f"{PYTHON_ROOT},/usr/bin,/bin",
        "PM_LOG_LEVEL": "warning",
        "PM_MAX_PROCESSES": str(IDLE_CHILDREN * 4),
        "PM_DAEMON_AUTO_START": "false",
        "PM_RATE_LIMIT": "off",  # the benches poll states every millisecond
    }


async def connect_when_ready(environment: dict[str, str], folder: Path, daemon: psutil.Popen) -> DaemonClient:
    config = load_config(environment, folder)
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    while True:
        try:
            return await DaemonClient.connect(config, environment["PM_DAEMON_TOKEN"])
        except DaemonUnavailable:
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise
            await asyncio.sleep(POLL_INTERVAL_S)


class PmBench:
    """One daemon, its socket client and (for the MCP figures) one MCP client session."""

    def __init__(self, client: DaemonClient, folder: Path, daemon_pid: int, out: Measurements) -> None:
        self.client = client
        self.folder = folder
        self.pid = daemon_pid
        self.out = out

    def start_request(self, name: str, command: str, args: list[str]) -> api.StartProcess:
        return api.StartProcess(name=name, command=command, args=args, cwd=str(self.folder))

    async def start(self, name: str, command: str = SLEEP, args: tuple[str, ...] = ("600",)) -> None:
        record = await self.client.call(self.start_request(name, command, list(args)))
        if record.state != ProcessState.RUNNING:
            raise RuntimeError(f"start_process {name} answered {record.state}")

    async def stop(self, name: str) -> None:
        await self.client.call(api.StopProcess(name=name, timeout_s=STOP_TIMEOUT_S))

    async def delete(self, name: str) -> None:
        await self.client.call(api.DeleteProcess(name=name))

    async def socket_start_and_list(self) -> None:
        await self.start("probe")
        self.out.latencies["start.socket"] = await time_async(
            lambda: self.start("lat", SLEEP, ("60",)), START_RUNS, after=lambda: self.stop("lat")
        )
        await self.delete("lat")
        listing = api.ListProcesses()
        self.out.latencies["list1.socket"] = await time_async(lambda: self.client.call(listing), LIST_RUNS)

    async def wait_for_latency(self) -> None:
        """From the moment a child prints its ready line to the moment wait_for has returned it."""
        request = api.WaitFor(name="ready", until="log_line", pattern="^READY", timeout_s=10)
        delays = []
        for _ in range(WAIT_RUNS):
            await self.start("ready", sys.executable, ("-c", READY_CHILD))
            result = await self.client.call(request)
            returned_at = time.time()
            if not result.satisfied or result.matched_line is None:
                raise RuntimeError(f"wait_for did not see the ready line: {result}")
            delays.append(returned_at - float(result.matched_line.text.split()[1]))
            await self.stop("ready")
        await self.delete("ready")
        self.out.latencies["wait.log"] = Latency.of(delays)

    async def idle_children(self, mcp: McpBench) -> None:
        names = [f"idle-{number:02d}" for number in range(1, IDLE_CHILDREN)]
        for name in names:
            await self.start(name)
        await asyncio.sleep(SETTLE_S)
        self.out.amounts["rss.50"] = rss_mb(self.pid)
        self.out.amounts["cpu.50"] = await asyncio.to_thread(cpu_percent_over, self.pid, CPU_WINDOW_S)
        listing = api.ListProcesses()
        self.out.latencies["list50.socket"] = await time_async(lambda: self.client.call(listing), LIST_RUNS)
        self.out.latencies["list50.mcp"] = await time_async(mcp.list_processes, MCP_LIST_RUNS)
        names.append("probe")
        await asyncio.gather(*(self.stop(name) for name in names))

    async def flood(self, script: Path, expected: FloodOutput) -> None:
        cpu_before = cpu_seconds(self.pid)
        started = time.perf_counter()
        await self.start("flood", sys.executable, (str(script), str(expected.lines)))
        state = await self.wait_until_ended("flood", started + FLOOD_DEADLINE_S)
        elapsed = time.perf_counter() - started
        if state != ProcessState.EXITED:
            raise RuntimeError(f"the flood child ended {state}, not exited")
        self.out.amounts["flood.rate"] = expected.lines / elapsed
        self.out.amounts["flood.cpu"] = (cpu_seconds(self.pid) - cpu_before) / elapsed * 100
        await self.check_flood_complete(expected)
        await self.wait_until_indexed(started)

    async def wait_until_indexed(self, started: float) -> None:
        """The index trails capture: how long until every flood line is searchable."""
        probe = api.SearchLogs(query="flood", name="flood", mode="words", limit=1)
        deadline = started + FLOOD_DEADLINE_S
        while (await self.client.call(probe)).unindexed:
            if time.perf_counter() > deadline:
                raise TimeoutError("the flood was not indexed in time")
            await asyncio.sleep(POLL_INTERVAL_S)
        self.out.amounts["flood.indexed"] = time.perf_counter() - started

    async def wait_until_ended(self, name: str, deadline: float) -> ProcessState:
        listing = api.ListProcesses()
        while time.perf_counter() < deadline:
            result = await self.client.call(listing)
            state = next(record.state for record in result.processes if record.name == name)
            if state in ENDED_STATES:
                return ProcessState(state)
            await asyncio.sleep(POLL_INTERVAL_S)
        raise TimeoutError(f"{name} did not end within {FLOOD_DEADLINE_S:g} s")

    async def check_flood_complete(self, expected: FloodOutput) -> None:
        """None lost: ids contiguous from the first line to the last, and both are the right text."""
        first = (await self.client.call(api.GetLogs(name="flood", limit=1))).lines[0]
        last = (await self.client.call(api.TailLogs(name="flood", limit=1))).lines[0]
        stored = last.id - first.id + 1
        if (stored, first.text, last.text) != (expected.lines, expected.first, expected.last):
            raise RuntimeError(
                f"flood: {stored:,} lines stored of {expected.lines:,} "
                f"(first {first.text!r}, last {last.text!r}, expected {expected.first!r}, {expected.last!r})"
            )
        result = await self.client.call(api.SearchLogs(query=expected.last.split()[0], mode="words"))
        self.out.notes.append(
            f"flood: {stored:,} of {expected.lines:,} lines stored, none lost; "
            f"unindexed right after exit: {result.unindexed}"
        )

    async def searches(self, lines: int) -> None:
        rare = str(lines * 7 // 9)
        cases = (
            ("search.words", api.SearchLogs(query=rare, mode="words"), SEARCH_RUNS, 1),
            ("search.words2", api.SearchLogs(query="upstream request", mode="words"), SEARCH_RUNS, 100),
            ("search.phrase", api.SearchLogs(query="status 500", mode="phrase"), SEARCH_RUNS, 100),
            ("search.substring", api.SearchLogs(query=f"id={rare} ", mode="substring"), SUBSTRING_RUNS, 1),
            ("search.absent", api.SearchLogs(query="never printed", mode="substring"), SUBSTRING_RUNS, 0),
        )
        for key, request, runs, expected in cases:
            result = await self.client.call(request)
            if len(result.matches) != expected:
                raise RuntimeError(f"{request!r} found {len(result.matches)} lines, expected {expected}")
            self.out.latencies[key] = await time_async(functools.partial(self.client.call, request), runs)


class McpBench:
    """The `mcp` SDK's own client over stdio, talking to `pm-actors mcp`."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        result = await self.client.call_tool(tool, arguments)
        if result.is_error or not isinstance(result.structured_content, dict):
            raise RuntimeError(f"MCP {tool} failed: {result.content}")
        return result.structured_content

    async def list_processes(self) -> None:
        await self.call("list_processes", {})

    async def start(self, name: str) -> None:
        record = await self.call("start_process", {"name": name, "command": SLEEP, "args": ["60"]})
        if record["state"] != "running":
            raise RuntimeError(f"MCP start_process answered {record['state']}")

    async def stop(self, name: str) -> None:
        await self.call("stop_process", {"name": name, "timeout_s": STOP_TIMEOUT_S})

    async def measure(self, out: Measurements) -> None:
        with warnings.catch_warnings():  # ping is legacy-only in 2.x; here it is the transport's floor
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            out.latencies["ping.mcp"] = await time_async(self.client.send_ping, MCP_LIST_RUNS)
        out.latencies["list1.mcp"] = await time_async(self.list_processes, MCP_LIST_RUNS)
        out.latencies["start.mcp"] = await time_async(
            lambda: self.start("mcp-lat"), MCP_START_RUNS, after=lambda: self.stop("mcp-lat")
        )
        await self.call("delete_process", {"name": "mcp-lat"})

    async def search(self, out: Measurements, lines: int) -> None:
        arguments = {"query": str(lines * 7 // 9), "mode": "words"}
        out.latencies["search.mcp"] = await time_async(
            lambda: self.call("search_logs", arguments), SEARCH_RUNS
        )


def mcp_parameters(environment: dict[str, str], folder: Path) -> StdioServerParameters:
    return StdioServerParameters(command=PM_ACTORS, args=["mcp"], env=environment, cwd=str(folder))


def start_daemon(folder: Path, log: TextIO, **overrides: str) -> tuple[dict[str, str], psutil.Popen]:
    """A daemon of its own (HOME, database, socket, token in `folder`), not waited for."""
    environment = pm_environment(folder) | overrides
    daemon = psutil.Popen(
        [sys.executable, "-m", "pm_actors", "daemon"],
        env=environment,
        cwd=folder,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
    )
    return environment, daemon


async def run_pm(folder: Path, script: Path, expected: FloodOutput, out: Measurements, log: TextIO) -> None:
    environment, daemon = start_daemon(folder, log)
    try:
        async with await connect_when_ready(environment, folder, daemon) as client:
            await asyncio.sleep(0.5)
            out.amounts["rss.idle"] = rss_mb(daemon.pid)
            bench = PmBench(client, folder, daemon.pid, out)
            await bench.socket_start_and_list()
            await bench.wait_for_latency()
            async with Client(
                stdio_client(mcp_parameters(environment, folder), errlog=log), mode="legacy"
            ) as mcp:
                shim = McpBench(mcp)
                await shim.measure(out)
                await bench.idle_children(shim)
                await bench.flood(script, expected)
                await bench.searches(expected.lines)
                await shim.search(out, expected.lines)
            out.amounts["rss.after"] = rss_mb(daemon.pid)
    finally:
        end_process(daemon, "pm-actors daemon", out)


# supervisord -------------------------------------------------------------------------------


def supervisor_programs(folder: Path, script: Path, lines: int) -> tuple[dict[str, str], dict[str, Path]]:
    programs = {f"idle-{number:02d}": f"{SLEEP} 600" for number in range(IDLE_CHILDREN)}
    programs["lat"] = f"{SLEEP} 60"
    programs["flood"] = f"{sys.executable} {script} {lines}"
    return programs, {"flood": folder / "flood.log"}


def peer_restart_loop(proxy: Any) -> Latency:
    def stop() -> None:
        wait_for_exec(proxy, "lat", SLEEP)
        stop_and_wait(proxy, ["lat"])

    return time_sync(lambda: proxy.startProcess("lat", True), START_RUNS, after=stop)


def peer_idle_children(proxy: Any, pid: int, out: Measurements) -> None:
    names = [f"idle-{number:02d}" for number in range(IDLE_CHILDREN)]
    for name in names:
        proxy.startProcess(name, True)
    time.sleep(SETTLE_S)
    out.amounts["rss.50"] = rss_mb(pid)
    out.amounts["cpu.50"] = cpu_percent_over(pid, CPU_WINDOW_S)
    out.latencies["info.one"] = time_sync(lambda: proxy.getProcessInfo("idle-00"), LIST_RUNS)
    out.latencies["info.all"] = time_sync(proxy.getAllProcessInfo, LIST_RUNS)
    stop_and_wait(proxy, names)


def peer_flood(proxy: Any, pid: int, log_path: Path, expected: FloodOutput, out: Measurements) -> None:
    """Time from startProcess until the log file holds every byte the child printed."""
    cpu_before = cpu_seconds(pid)
    started = time.perf_counter()
    proxy.startProcess("flood", True)
    deadline = started + FLOOD_DEADLINE_S
    while not log_path.exists() or log_path.stat().st_size < expected.size:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"supervisord's flood log did not reach {expected.size:,} bytes")
        time.sleep(POLL_INTERVAL_S / 10)
    elapsed = time.perf_counter() - started
    out.amounts["flood.rate"] = expected.lines / elapsed
    out.amounts["flood.cpu"] = (cpu_seconds(pid) - cpu_before) / elapsed * 100
    copied = log_path.read_bytes().count(b"\n")
    out.notes.append(f"flood: {copied:,} of {expected.lines:,} lines in its log file (flat file, no index)")


def run_peer(
    python: Path, folder: Path, script: Path, expected: FloodOutput, out: Measurements, log: TextIO
) -> None:
    programs, logs = supervisor_programs(folder, script, expected.lines)
    supervisord, proxy = start_supervisord(python, folder, supervisor_config(folder, programs, logs), log)
    try:
        time.sleep(0.5)
        out.amounts["rss.idle"] = rss_mb(supervisord.pid)
        out.latencies["start"] = peer_restart_loop(proxy)
        peer_idle_children(proxy, supervisord.pid, out)
        peer_flood(proxy, supervisord.pid, folder / "flood.log", expected, out)
        shutdown(supervisord, proxy)
    finally:
        end_process(supervisord, "supervisord", out)


# Clean-up ----------------------------------------------------------------------------------


def end_process(process: psutil.Popen, label: str, out: Measurements) -> None:
    """SIGTERM (a graceful stop of its children), then SIGKILL; then any descendant left over."""
    try:
        descendants = process.children(recursive=True)
    except psutil.NoSuchProcess:
        descendants = []
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STARTUP_DEADLINE_S)
        except psutil.TimeoutExpired:
            out.notes.append(f"{label} ignored SIGTERM; killed")
            process.kill()
            process.wait()
    kill_all(descendants, f"child of {label}", out)


def kill_all(processes: list[psutil.Process], label: str, out: Measurements) -> None:
    alive = [each for each in processes if is_alive(each)]
    for each in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            each.kill()
    if alive:
        out.notes.append(f"LEFT BEHIND: {len(alive)} {label} process(es) still alive at the end; killed")


def is_alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@contextlib.contextmanager
def private_folder() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="pmb", dir="/tmp"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def note_daemon_errors(log_path: Path, out: Measurements) -> None:
    """Errors the daemon or the shim logged (PM_LOG_LEVEL=warning) during the run, with the
    exceptions of their tracebacks, counted by message."""
    with contextlib.suppress(OSError):
        lines = log_path.read_text(errors="replace").splitlines()
        errors = collections.Counter(
            line.split(" ", 2)[-1] for line in lines if " pm_actors" in line and " ERROR " in line
        )
        raised = collections.Counter(line.split(" (")[0] for line in lines if EXCEPTION_LINE.match(line))
        for message, count in (errors + raised).most_common(4):
            out.notes.append(f"logged {count} time(s): {message}")


def report_log_on_failure(log_path: Path) -> None:
    with contextlib.suppress(OSError):
        text = log_path.read_text(errors="replace").strip()
        if text:
            print(f"--- last output of the daemon / shim / supervisord ({log_path.name}):")
            print("\n".join(text.splitlines()[-30:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000, help="lines the flood child prints")
    parser.add_argument("--no-peer", action="store_true", help="skip supervisord")
    arguments = parser.parse_args()
    # A SIGTERM to the bench unwinds like Ctrl-C, through every `finally` that ends a process.
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    pm, peer = Measurements(), Measurements()
    python, why_not = (None, "skipped (--no-peer)") if arguments.no_peer else peer_python(INSTALL_TIMEOUT_S)
    if python is None:
        peer.notes.append(why_not)
    with private_folder() as folder:
        script = folder / "flood.py"
        script.write_text(FLOOD_SCRIPT)
        expected = flood_alone(script, arguments.lines)
        pm.amounts["flood.alone"] = expected.rate
        log_path = folder / "managers.log"
        try:
            with log_path.open("w") as log:
                (folder / "pm").mkdir()
                asyncio.run(run_pm(folder / "pm", script, expected, pm, log))
                if python is not None:
                    (folder / "sv").mkdir()
                    run_peer(python, folder / "sv", script, expected, peer, log)
        except BaseException:
            report_log_on_failure(log_path)
            raise
        finally:
            kill_all(psutil.Process().children(recursive=True), "bench", pm)
            note_daemon_errors(log_path, pm)
    print_table(pm, peer)


if __name__ == "__main__":
    main()
