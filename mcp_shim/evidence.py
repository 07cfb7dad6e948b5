"""Facts about live processes, gathered for the prompts through the tools' own requests.

Each function asks the backend (concurrently where it can) and returns sections of plain
lines; `prompts.py` decides which sections a prompt shows. A process that ended meanwhile or
a tool that cannot answer (stats of a stopped process) becomes a line saying so, not a failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from pm_actors.api import GetProcessInfo, GetProcessStats, GetSystemStats, ListProcesses, SearchLogs, TailLogs
from pm_actors.error_requests import GetErrors
from pm_actors.error_results import ErrorList
from pm_actors.errors import PmError
from pm_actors.ipc.session import ClientSession
from pm_actors.log_results import LogLines, SearchResult
from pm_actors.results import ProcessInfo, ProcessRecord, ProcessStats, SystemStats

from .briefing import Section

TAIL_LINES = 40
"""Newest lines shown per stream: the end of a crash is almost always within them."""

ERROR_MATCHES = 15
"""Lines that look like errors, newest first: the distinct failures, not every repeat."""

ERROR_QUERY = "error OR exception OR traceback OR fatal OR panic OR failed OR refused OR denied"
"""An FTS5 query for lines that look like failures, in the words programs commonly print."""

TRACKED_ERRORS = 5
"""Errors of the process shown with their traces: the few that explain most of its trouble."""

GROUP_TAIL_LINES = 10
"""Per member in trouble: its last stderr lines, so a dozen members still fit the budget."""


async def outcome(call: Awaitable[Any]) -> Any:
    """The result of `call`, or the `PmError` it failed with (shown as a fact)."""
    try:
        return await call
    except PmError as error:
        return error


def failure_line(error: PmError) -> str:
    return f"(not available: {error.code}: {error.message})"


def summary_lines(result: ProcessRecord) -> list[str]:
    """A record as the tools say it, line by line: a ProcessInfo's carries its settings, runs,
    health checks and breaches too."""
    return result.summary().split("\n")


def line_texts(found: LogLines | PmError) -> list[str]:
    if isinstance(found, PmError):
        return [failure_line(found)]
    return [f"{line.ts} [{line.stream}] {line.text}" for line in found.lines]


def error_texts(found: ErrorList | PmError) -> list[str]:
    if isinstance(found, PmError):
        return [failure_line(found)]
    return [line for error in found.errors for line in error.summary().split("\n")] or ["none found"]


def match_texts(found: SearchResult | PmError) -> list[str]:
    if isinstance(found, PmError):
        return [failure_line(found)]
    return [f"{match.ts} [{match.stream}] {match.text}" for match in found.matches]


def stats_texts(found: ProcessStats | SystemStats | PmError) -> list[str]:
    return [failure_line(found)] if isinstance(found, PmError) else [found.summary()]


async def process_evidence(backend: ClientSession, name: str) -> tuple[ProcessInfo, list[Section]]:
    """Everything a debugging session starts from; raises if there is no such process."""
    info, tracked, errors, stderr, output = await asyncio.gather(
        backend.call(GetProcessInfo(name=name)),
        outcome(backend.call(GetErrors(name=name, limit=TRACKED_ERRORS))),
        outcome(backend.call(SearchLogs(query=ERROR_QUERY, name=name, mode="fts5", limit=ERROR_MATCHES))),
        outcome(backend.call(TailLogs(name=name, limit=TAIL_LINES, stream="stderr"))),
        outcome(backend.call(TailLogs(name=name, limit=TAIL_LINES))),
    )
    tail = f'tail_logs {{"name": "{name}", "limit": 500}}'
    return info, [
        Section("State, settings and recent runs", summary_lines(info)),
        Section(
            "Errors found in its output (each counted once, newest first)", error_texts(tracked), "get_errors"
        ),
        Section("Lines that look like errors (newest first)", match_texts(errors), "search_logs"),
        Section("Last stderr lines", line_texts(stderr), tail.replace("}", ', "stream": "stderr"}')),
        Section("Last output lines (both streams)", line_texts(output), tail),
    ]


async def usage_evidence(backend: ClientSession, name: str | None) -> list[Section]:
    """Resource use: of one process with its limits, or of every running process, busiest first."""
    system = await outcome(backend.call(GetSystemStats()))
    if name is not None:
        info, stats = await asyncio.gather(
            backend.call(GetProcessInfo(name=name)), outcome(backend.call(GetProcessStats(name=name)))
        )
        return [
            Section("Machine", stats_texts(system)),
            Section(f"{name} now", [*summary_lines(info), *stats_texts(stats)]),
        ]
    listing: Any = await backend.call(ListProcesses())
    running = [record.name for record in listing.processes if record.pid is not None]
    samples = await asyncio.gather(*(outcome(backend.call(GetProcessStats(name=n))) for n in running))
    measured = sorted(
        (sample for sample in samples if isinstance(sample, ProcessStats)), key=lambda s: -s.cpu_percent
    )
    return [
        Section("Machine", stats_texts(system)),
        Section("Running processes, busiest first", [sample.summary() for sample in measured]),
    ]


async def member_evidence(backend: ClientSession, record: ProcessRecord) -> list[str]:
    """One member of a group: its record, and its last stderr lines if it is in trouble."""
    lines = summary_lines(record)
    healthy = record.pid is not None and record.health.value != "unhealthy"
    if not healthy:
        stderr = await outcome(
            backend.call(TailLogs(name=record.name, limit=GROUP_TAIL_LINES, stream="stderr"))
        )
        lines.extend("    " + text for text in line_texts(stderr))
    return lines
