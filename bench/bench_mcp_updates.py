"""Resource updates: how soon a subscribed MCP client hears of a change, and how many updates a
burst of output gives.

Run: python bench/bench_mcp_updates.py [--repeats 20] [--lines 10000]

`pm-actors mcp` over stdio, driven by the `mcp` SDK's own client (protocol 2025-11-25,
`resources/subscribe`), with a daemon it starts itself in a private temp dir. Figures:
- state change -> update: a running child is killed (kill_process); the latency runs from the
  record's `ended_at` (the daemon saw the child exit) to the arrival of
  `notifications/resources/updated` for `process://NAME` at the client: the end of the run,
  the record board, the event hub, the 100 ms batcher, the socket, the shim, stdio. Measured
  twice: killed at once after its start was announced (so the kill falls inside the batcher's
  window after that announcement and waits for its end: the worst case), and killed after a
  quiet spell (the usual case: a change after a quiet spell goes out at once).
- new line -> update: a child prints `tick <time.time()>` every 0.25 s; the latency runs from
  that print to the arrival of the update for `logs://NAME`: the pipe, the IO thread, the
  writer's commit, the hub, the batcher, the socket, the shim, stdio.
- burst: a child prints N lines at once; the updates of `logs://NAME` from its start until its
  last line is stored and one more window has passed.
Target (issue 11): both latencies within 200 ms; a burst of 10,000 lines a handful of updates.
All times are wall clocks of the same machine.
"""

from __future__ import annotations

import argparse
import datetime
import os
import secrets
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

TARGET_MS = 200.0
TICK_S = 0.25
"""Ticks far enough apart (more than the 100 ms window) that each line gets its own update."""
SETTLE_S = 0.5
"""After the last line of a burst: long enough for the last coalesced window to be sent."""
QUIET_S = 0.3
"""Longer than the batcher's window: the next change is the first after a quiet spell."""
SLEEPER = "import time\nprint('up', flush=True)\ntime.sleep(600)"
TICKER = f"import time\nwhile True:\n    print('tick', time.time(), flush=True)\n    time.sleep({TICK_S})"


class Inbox:
    def __init__(self) -> None:
        self.updates: list[tuple[float, str]] = []

    async def __call__(self, message: Any) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            self.updates.append((time.time(), message.params.uri))

    def arrivals(self, uri: str, after: float = 0.0) -> list[float]:
        return [at for at, updated in self.updates if updated == uri and at > after]


def epoch(iso: str) -> float:
    return datetime.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def structured(result: types.CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert isinstance(result.structured_content, dict)
    return result.structured_content


async def first_arrival(inbox: Inbox, uri: str, after: float, timeout_s: float = 5.0) -> float:
    with anyio.fail_after(timeout_s):
        while not inbox.arrivals(uri, after):
            await anyio.sleep(0.001)
    return inbox.arrivals(uri, after)[0]


async def start(client: Client, name: str, code: str) -> dict[str, Any]:
    arguments = {"name": name, "command": sys.executable, "args": ["-u", "-c", code], "restart": "never"}
    return structured(await client.call_tool("start_process", arguments))


async def state_latencies(client: Client, inbox: Inbox, repeats: int, quiet_s: float) -> list[float]:
    await client.subscribe_resource("process://victim")
    latencies = []
    for _ in range(repeats):
        await start(client, "victim", SLEEPER)
        await client.call_tool("wait_for", {"name": "victim", "until": "log_line", "pattern": "up"})
        await anyio.sleep(quiet_s)
        sent = time.time()
        killed = structured(await client.call_tool("kill_process", {"name": "victim"}))
        arrival = await first_arrival(inbox, "process://victim", sent)
        latencies.append((arrival - epoch(killed["ended_at"])) * 1000)
    return latencies


async def line_latencies(client: Client, inbox: Inbox, repeats: int) -> list[float]:
    await client.subscribe_resource("logs://ticker")
    started = time.time()
    await start(client, "ticker", TICKER)
    await anyio.sleep(TICK_S * (repeats + 1))
    await client.call_tool("stop_process", {"name": "ticker"})
    page = structured(await client.call_tool("get_logs", {"name": "ticker", "limit": repeats + 10}))
    printed = [float(line["text"].split()[1]) for line in page["lines"]]
    arrivals = inbox.arrivals("logs://ticker", started)
    return [(min(at for at in arrivals if at > when) - when) * 1000 for when in printed[:repeats]]


async def burst_updates(client: Client, inbox: Inbox, lines: int) -> tuple[int, float]:
    code = f"import time\nfor i in range({lines}): print('burst line', i)\ntime.sleep(600)"
    await client.subscribe_resource("logs://burst")
    started = time.time()
    await start(client, "burst", code)
    await client.call_tool(
        "wait_for", {"name": "burst", "until": "log_line", "pattern": f"burst line {lines - 1}$"}
    )
    await anyio.sleep(SETTLE_S)
    await client.call_tool("stop_process", {"name": "burst"})
    arrivals = inbox.arrivals("logs://burst", started)
    return len(arrivals), (arrivals[-1] - started) * 1000 if arrivals else 0.0


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return f"p50 {statistics.median(ordered):6.1f} ms   p90 {p90:6.1f} ms   max {ordered[-1]:6.1f} ms"


def environment(directory: Path) -> dict[str, str]:
    real_python = os.path.dirname(os.path.realpath(sys.executable))
    return {
        "HOME": str(directory / "home"),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PM_DATABASE_PATH": str(directory / "pm.db"),
        "PM_DAEMON_SOCKET_PATH": str(directory / "run" / "d.sock"),
        "PM_DAEMON_TOKEN": secrets.token_hex(16),
        "PM_DAEMON_MODE": "enabled",
        "PM_ALLOWED_COMMANDS": f"{real_python},/usr/bin,/bin",
    }


def stop_daemon(directory: Path) -> None:
    lock = directory / "pm.db.lock"
    pid = int(lock.read_text().strip() or 0) if lock.exists() else 0
    if pid:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


async def measure(directory: Path, repeats: int, lines: int) -> None:
    inbox = Inbox()
    parameters = StdioServerParameters(
        command=sys.executable,
        args=["-m", "pm_actors", "mcp"],
        env=environment(directory),
        cwd=str(directory),
    )
    with (directory / "shim.err").open("w") as errlog:
        async with Client(
            stdio_client(parameters, errlog=errlog), mode="legacy", message_handler=inbox
        ) as client:
            busy = await state_latencies(client, inbox, repeats, 0.0)
            quiet = await state_latencies(client, inbox, repeats, QUIET_S)
            line = await line_latencies(client, inbox, repeats)
            count, last_ms = await burst_updates(client, inbox, lines)
    print(
        f"resource updates through `pm-actors mcp` over stdio ({repeats} repeats; target <= {TARGET_MS:g} ms)"
    )
    print(f"  state change -> process:// update, inside a window  {percentiles(busy)}")
    print(f"  state change -> process:// update, after quiet      {percentiles(quiet)}")
    print(f"  new line     -> logs:// update                      {percentiles(line)}")
    print(f"  burst of {lines} lines: {count} updates of logs:// (the last {last_ms:.0f} ms after the start)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--lines", type=int, default=10_000)
    arguments = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="pmb", dir="/tmp"))
    try:
        anyio.run(measure, directory, arguments.repeats, arguments.lines)
    finally:
        stop_daemon(directory)
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
