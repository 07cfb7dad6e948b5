"""Search on a large store through MCP, start_group against a client's own sequence, and how soon
`pm-actors mcp` answers `initialize`.

The store: the main daemon's lines are cleared, then a child prints N log-like lines (about one
in fifty naming an exception) and the bench waits until every one is indexed and the daemon is
idle (error detection catches up after a flood). Each search goes through a raw JSON-RPC client
of `pm-actors mcp`, held against that client's ping; a scan of every line is also held against
its floor, apsw alone running the same scan on the same file.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any

from bench_daemon import PM_ACTORS
from bench_groups import measure as measure_groups
from bench_logs import FLOOD_SCRIPT
from managers import Bench, until_idle
from raw_mcp import MINIMAL_SERVER, RawMcp, seconds_to_initialize
from report import Goal, Row, Sample, timed
from suite_floods import expected_output, pm_flood

from pm_actors import api
from pm_actors.actors.log_queries import REGEX_ROW_WINDOW
from pm_actors.actors.store import open_read_connection

PING_PLUS_MS = 3.0
SUBSTRING_GOAL_MS = 80.0
QUERY_BUDGET_MS = 5000.0
"""PM_QUERY_TIMEOUT_MS's default: no search may take longer, a regex says where to go on."""


SCAN_LABEL = "substring inside words: a scan"


def scan_alone(database: Path, text: str) -> None:
    """The floor of a substring scan: apsw alone reading every line of the same file for `text`."""
    connection = open_read_connection(database)
    try:
        connection.execute(
            "SELECT id FROM logs WHERE instr(line, ?) > 0 ORDER BY id DESC", (text,)
        ).fetchall()
    finally:
        connection.close()


def cases(lines: int) -> list[tuple[str, dict[str, Any], Goal]]:
    rare = str(lines * 7 // 9)
    near_ping = Goal.plus_at_most(PING_PLUS_MS, "ms")
    return [
        ("words, a rare number", {"query": rare}, near_ping),
        ("words, two common words", {"query": "upstream request"}, near_ping),
        ("phrase 'status 500'", {"query": "status 500", "mode": "phrase"}, near_ping),
        ("identifier part 'refused'", {"query": "refused"}, near_ping),
        (
            "substring, a rare id (whole word)",
            {"query": f"id={rare} ", "mode": "substring"},
            Goal.at_most(SUBSTRING_GOAL_MS, "ms"),
        ),
        (
            "substring beginning a word",
            {"query": f"d={rare}", "mode": "substring"},
            Goal.at_most(SUBSTRING_GOAL_MS, "ms"),
        ),
        (
            SCAN_LABEL,
            {"query": rare[1:], "mode": "substring"},
            Goal.at_most(SUBSTRING_GOAL_MS, "ms"),
        ),
        (
            "regex, no match",
            {"query": r"never printed \d+", "mode": "regex"},
            Goal.at_most(QUERY_BUDGET_MS, "ms"),
        ),
    ]


async def measure(bench: Bench) -> None:
    lines = bench.sizes.search_lines
    await bench.pm.client.call(api.ClearLogs())
    script = bench.folder / "corpus.py"
    script.write_text(FLOOD_SCRIPT)
    await pm_flood(bench.pm, "corpus", script, expected_output(script, lines, bench.folder))
    await until_idle([bench.pm])
    runs = bench.sizes.search_runs
    with RawMcp([PM_ACTORS, "mcp"], bench.pm.environment, str(bench.pm.folder), bench.log) as raw:
        raw.initialize()
        ping = timed(raw.ping, runs * 2)
        for label, arguments, goal in cases(lines):
            answer = raw.call_tool("search_logs", arguments)
            if not answer["matches"] and "no match" not in label:
                raise RuntimeError(f"search_logs {arguments} found nothing")
            if "regex" in label and lines > REGEX_ROW_WINDOW and answer.get("stopped") != "row_window":
                raise RuntimeError(f"a regex search past its window did not say where to go on: {answer}")
            sample = timed(functools.partial(raw.call_tool, "search_logs", arguments), runs)
            bench.report.add(Row(f"search {lines:,} lines, MCP: {label}", sample, goal, ping, "ping"))
            if label == SCAN_LABEL:
                floor = timed(functools.partial(scan_alone, bench.pm.database, arguments["query"]), runs)
                bench.report.add(
                    Row("  the same beside the floor", sample, Goal.context(), floor, "apsw alone")
                )


async def groups(bench: Bench) -> None:
    members, runs = bench.sizes.group_members, bench.sizes.group_runs
    times = await measure_groups(bench.pm.client, members, runs)
    sequential = Sample.seconds_as_ms(times["sequential"])
    bench.report.add(
        Row(
            f"start_group, {members} members in 4 orders",
            Sample.seconds_as_ms(times["tiered"]),
            Goal.ratio_at_most(0.5),
            sequential,
            "start + wait_for each",
        )
    )
    bench.report.add(
        Row(
            f"  start_group, {members} orders",
            Sample.seconds_as_ms(times["chain"]),
            Goal.context(),
            sequential,
            "start + wait_for each",
        )
    )


def startup(bench: Bench) -> None:
    """Spawn until `initialize` is answered: `pm-actors mcp` (the daemon already runs) against a
    minimal low-level `Server` of the same SDK, in turn."""
    minimal = bench.folder / "minimal_server.py"
    minimal.write_text(MINIMAL_SERVER)
    env, cwd = bench.pm.environment, str(bench.pm.folder)
    ours, floor = [], []
    for _ in range(bench.sizes.startup_runs + 1):  # the first of each warms the page cache
        ours.append(seconds_to_initialize([PM_ACTORS, "mcp"], env, cwd, bench.log))
        floor.append(seconds_to_initialize([sys.executable, str(minimal)], env, cwd, bench.log))
    bench.report.add(
        Row(
            "pm-actors mcp: spawn to initialize answered",
            Sample.seconds_as_ms(ours[1:]),
            Goal.ratio_at_most(1.2),
            Sample.seconds_as_ms(floor[1:]),
            "minimal SDK Server",
        )
    )
