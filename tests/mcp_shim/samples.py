"""Realistic results and minimal arguments for every tool, shared by the shim's tests.

Adding a tool means adding its sample here: the tests check that every tool has one, so a new
result type is always validated against its declared output schema.
"""

from __future__ import annotations

from typing import Any

import msgspec

from pm_actors.api import (
    DeletedProcess,
    LogLine,
    LogLines,
    ProcessList,
    ProcessRecord,
    SearchMatch,
    SearchResult,
    iso_utc,
)
from pm_actors.states import Health, ProcessState

STARTED = 1_700_000_000.25
ENDED = 1_700_000_042.5

RUNNING = ProcessRecord(
    name="web",
    state=ProcessState.RUNNING,
    pid=4242,
    command="/usr/bin/python3",
    args=["-m", "http.server", "8000"],
    cwd="/srv/app",
    restarts=0,
    exit_code=None,
    started_at=iso_utc(STARTED),
    ended_at=None,
    health=Health.HEALTHY,
    run_id=7,
)

CRASHED = msgspec.structs.replace(
    RUNNING,
    name="worker",
    state=ProcessState.CRASHED,
    pid=None,
    restarts=3,
    exit_code=1,
    ended_at=iso_utc(ENDED),
    health=Health.UNKNOWN,
    end_reason="exited with code 1",
)

KILLED = msgspec.structs.replace(
    CRASHED, name="job.1", state=ProcessState.STOPPED, exit_code=None, exit_signal="SIGKILL", end_reason=None
)

LINES = LogLines(
    lines=[
        LogLine(id=1, stream="stdout", ts=iso_utc(STARTED) or "", text="Serving HTTP on 0.0.0.0 port 8000"),
        LogLine(id=2, stream="stderr", ts=iso_utc(STARTED + 1) or "", text='"GET / HTTP/1.1" 200 -'),
    ],
    next_after_id=2,
    has_more=True,
)

SEARCH = SearchResult(
    matches=[SearchMatch(id=2, name="web", stream="stderr", ts=iso_utc(STARTED + 1) or "", text="GET / 200")],
    has_more=False,
    unindexed=12,
)

SAMPLE_RESULTS: dict[type[msgspec.Struct], list[msgspec.Struct]] = {
    ProcessRecord: [RUNNING, CRASHED, KILLED],
    ProcessList: [ProcessList(processes=[RUNNING, CRASHED, KILLED]), ProcessList(processes=[])],
    DeletedProcess: [DeletedProcess(name="worker", deleted=True)],
    LogLines: [LINES, LogLines(lines=[], next_after_id=0, has_more=False, byte_cap_reached=False)],
    SearchResult: [SEARCH, SearchResult(matches=[], has_more=False, unindexed=0)],
}
"""Per result type, results a real backend could return (edge cases included: nulls, empty lists)."""

MINIMAL_ARGUMENTS: dict[str, dict[str, Any]] = {
    "start_process": {"name": "web", "command": "python3"},
    "stop_process": {"name": "web"},
    "restart_process": {"name": "web"},
    "kill_process": {"name": "web"},
    "delete_process": {"name": "web"},
    "list_processes": {},
    "get_logs": {"name": "web"},
    "tail_logs": {"name": "web"},
    "search_logs": {"query": "error"},
}
"""Per tool, the smallest arguments it accepts."""


def sample_result(result_type: type[msgspec.Struct]) -> Any:
    """The first sample of a result type: what a fake backend answers."""
    return SAMPLE_RESULTS[result_type][0]
