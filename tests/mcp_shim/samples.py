"""Realistic results and minimal arguments for every tool, shared by the shim's tests.

Adding a tool means adding its sample here: the tests check that every tool has one, so a new
result type is always validated against its declared output schema.
"""

from __future__ import annotations

from typing import Any

import msgspec

from pm_actors.group_results import (
    DeletedGroup,
    GroupInfo,
    GroupList,
    GroupMemberState,
    GroupStarted,
    GroupStopped,
    MemberStart,
    MemberStop,
)
from pm_actors.log_results import ClearedLogs, LogLine, LogLines, LogTail, SearchMatch, SearchResult
from pm_actors.results import (
    Breach,
    ConfiguredProcess,
    DaemonStatus,
    DeletedProcess,
    HealthReport,
    InputSent,
    ProcessInfo,
    ProcessList,
    ProcessRecord,
    ProcessStats,
    RestartedProcess,
    RunSummary,
    StartedProcess,
    SystemStats,
    WaitResult,
    iso_utc,
)
from pm_actors.specs import Backoff, CommandCheck, HttpCheck, Limits, ReadyCondition, TcpCheck
from pm_actors.states import Health, ProcessState
from tests.mcp_shim.error_samples import ERROR_SAMPLES

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
    end_reason="exited on its own with code 1",
    crash="ModuleNotFoundError: No module named 'flask'",
    error_id=3,
)

KILLED = msgspec.structs.replace(
    CRASHED,
    name="job.1",
    state=ProcessState.STOPPED,
    exit_code=None,
    exit_signal="SIGKILL",
    end_reason=None,
    crash=None,
    error_id=None,
)
FATAL = msgspec.structs.replace(CRASHED, name="api", state=ProcessState.FATAL, restarts=5)

LINES = LogLines(
    lines=[
        LogLine(
            id=1,
            run_id=7,
            stream="stdout",
            ts=iso_utc(STARTED) or "",
            text="Serving HTTP on 0.0.0.0 port 8000",
        ),
        LogLine(
            id=2, run_id=7, stream="stderr", ts=iso_utc(STARTED + 1) or "", text='"GET / HTTP/1.1" 200 -'
        ),
        LogLine(
            id=3,
            run_id=8,
            stream="stdout",
            ts=iso_utc(ENDED) or "",
            text="x" * 20 + "…[1,980 of 2,000 chars cut; whole line: get_logs name=web after_id=2 limit=1"
            " max_line_chars=2000]",
            cut=1980,
        ),
    ],
    next_after_id=3,
    has_more=True,
    budget_reached=True,
)

SEARCH = SearchResult(
    matches=[
        SearchMatch(
            id=2,
            run_id=7,
            name="web",
            stream="stderr",
            ts=iso_utc(STARTED + 1) or "",
            text="GET / 200",
            before=[LINES.lines[0]],
            after=[LINES.lines[2]],
        ),
        SearchMatch(
            id=9, run_id=3, name="worker", stream="stdout", ts=iso_utc(STARTED) or "", text="GET /x 500"
        ),
    ],
    has_more=True,
    unindexed=12,
    next_cursor=9,
    stopped="time_budget",
)

HEALTH = HealthReport(
    name="web",
    healthy=False,
    health=Health.UNHEALTHY,
    detail="GET http://127.0.0.1:8000/ answered 500",
    duration_ms=1.7,
    checked_at=iso_utc(ENDED) or "",
    consecutive_failures=3,
)

INFO = ProcessInfo(
    **msgspec.structs.asdict(RUNNING),
    env={"PORT": "8000"},
    restart="on-failure",
    max_restarts=10,
    backoff=Backoff(fatal_retry_s=600),
    health_check=HttpCheck(url="http://127.0.0.1:8000/", interval_ms=5000),
    limits=Limits(max_memory_mb=512),
    stop_timeout_s=10.0,
    listening_ports=[8000],
    last_health_check=HEALTH,
    breaches=[Breach(kind="memory", detail="memory 600 MB > limit 512 MB for 60 s", at="x", enforced=True)],
    next_restart_at=None,
    recent_runs=[
        RunSummary(
            run_id=6,
            pid=4100,
            started_at=iso_utc(STARTED - 60),
            ended_at=iso_utc(STARTED - 1),
            exit_code=1,
            exit_signal=None,
            end_reason="exited on its own with code 1",
            requested_by="start_process",
            end_state=ProcessState.CRASHED,
            crash="ModuleNotFoundError: No module named 'flask'",
            error_id=3,
        )
    ],
)

STACK = GroupInfo(
    name="stack",
    status="partly_running",
    stop_strategy="reverse",
    members=[
        GroupMemberState(
            name="db",
            order=0,
            ready=ReadyCondition(until="port", port=5432),
            state=ProcessState.RUNNING,
            health=Health.HEALTHY,
            pid=4100,
        ),
        GroupMemberState(
            name="migrate",
            order=1,
            ready=ReadyCondition(until="exited", timeout_s=120),
            state=ProcessState.EXITED,
            health=Health.UNKNOWN,
            pid=None,
        ),
        GroupMemberState(
            name="web",
            order=2,
            ready=ReadyCondition(until="log_line", pattern="listening on"),
            state=ProcessState.STOPPED,
            health=Health.UNKNOWN,
            pid=None,
        ),
    ],
)

STACK_STOPPED = GroupStopped(
    group="stack",
    strategy="reverse",
    elapsed_ms=130.5,
    members=[
        MemberStop(
            name="web",
            order=2,
            was=ProcessState.RUNNING,
            state=ProcessState.STOPPED,
            stop_ms=12.0,
            detail="stopped on request",
            exit_signal="SIGTERM",
        ),
        MemberStop(
            name="migrate",
            order=1,
            was=ProcessState.EXITED,
            state=ProcessState.EXITED,
            stop_ms=0.4,
            detail="exited on its own with code 0",
            exit_code=0,
        ),
        MemberStop(
            name="db",
            order=0,
            was=ProcessState.RUNNING,
            state=ProcessState.STOPPED,
            stop_ms=118.0,
            detail="stopped on request (SIGKILL after the stop timeout)",
            exit_signal="SIGKILL",
        ),
    ],
)

DB_READY = MemberStart(
    name="db",
    order=0,
    outcome="started",
    state=ProcessState.RUNNING,
    pid=4100,
    ready_ms=412.0,
    detail="port 5432",
)

SAMPLE_RESULTS: dict[type[msgspec.Struct], list[msgspec.Struct]] = {
    ProcessRecord: [RUNNING, CRASHED, KILLED, FATAL],
    ProcessList: [ProcessList(processes=[RUNNING, CRASHED, KILLED]), ProcessList(processes=[])],
    DeletedProcess: [DeletedProcess(name="worker", deleted=True, lines_deleted=1234)],
    LogLines: [LINES, LogLines(lines=[], next_after_id=0, has_more=False)],
    LogTail: [
        LogTail(lines=LINES.lines, next_after_id=3, has_more=False),
        LogTail(lines=LINES.lines[1:], next_after_id=3, has_more=True, next_before_id=2),
        LogTail(lines=[], next_after_id=0, has_more=False),
        LogTail(
            lines=[LogLine(id=12, run_id=9, stream="stdin", ts=iso_utc(ENDED) or "", text="print(1)")],
            next_after_id=12,
            has_more=False,
        ),
    ],
    SearchResult: [
        SEARCH,
        SearchResult(matches=SEARCH.matches[1:], has_more=True, unindexed=0, next_cursor=9),
        SearchResult(matches=[], has_more=False, unindexed=0),
    ],
    ClearedLogs: [
        ClearedLogs(name="web", before=iso_utc(ENDED), lines_deleted=5120),
        ClearedLogs(name=None, before=None, lines_deleted=0),
    ],
    ConfiguredProcess: [
        ConfiguredProcess(**msgspec.structs.asdict(INFO), changed=["health_check", "limits"])
    ],
    RestartedProcess: [RestartedProcess(**msgspec.structs.asdict(RUNNING), changed=["env"])],
    StartedProcess: [
        StartedProcess(**msgspec.structs.asdict(RUNNING), dropped=["health_check", "restart"]),
        StartedProcess(**msgspec.structs.asdict(RUNNING)),
    ],
    GroupInfo: [STACK, GroupInfo(name="empty", status="empty", stop_strategy="parallel", members=[])],
    GroupList: [GroupList(groups=[STACK]), GroupList(groups=[])],
    DeletedGroup: [
        DeletedGroup(name="stack", members=["db", "migrate", "web"]),
        DeletedGroup(name="stack", members=["db", "migrate", "web"], stopped=STACK_STOPPED),
    ],
    GroupStopped: [STACK_STOPPED],
    GroupStarted: [
        GroupStarted(
            group="stack",
            ok=True,
            elapsed_ms=1250.0,
            members=[
                DB_READY,
                MemberStart(
                    name="web",
                    order=1,
                    outcome="already_running",
                    state=ProcessState.RUNNING,
                    pid=4200,
                    ready_ms=11.0,
                    detail="line: listening on :8000",
                ),
            ],
        ),
        GroupStarted(
            group="stack",
            ok=False,
            elapsed_ms=5420.0,
            members=[
                DB_READY,
                MemberStart(
                    name="migrate",
                    order=1,
                    outcome="failed",
                    state=ProcessState.CRASHED,
                    pid=None,
                    ready_ms=None,
                    detail="crashed, not with exit code 0 (exited on its own with code 1)",
                ),
                MemberStart(
                    name="web",
                    order=2,
                    outcome="not_started",
                    state=ProcessState.STOPPED,
                    pid=None,
                    ready_ms=None,
                    detail="",
                ),
            ],
            failed_member="migrate",
            reason="crashed, not with exit code 0 (exited on its own with code 1)",
            last_lines=LINES.lines,
            rolled_back=["db"],
        ),
    ],
    ProcessInfo: [
        INFO,
        msgspec.structs.replace(
            INFO, health_check=CommandCheck(command="/usr/bin/true"), last_health_check=None
        ),
        msgspec.structs.replace(INFO, health_check=TcpCheck(port=5432), breaches=[]),
        msgspec.structs.replace(INFO, health_check=None),
    ],
    ProcessStats: [
        ProcessStats(
            name="web",
            pid=4242,
            cpu_percent=12.5,
            rss_mb=40.2,
            tree_rss_mb=120.7,
            threads=9,
            open_files=14,
            children=2,
            uptime_s=42.0,
            listening_ports=[8000],
            sampled_at=iso_utc(ENDED) or "",
        )
    ],
    HealthReport: [HEALTH],
    InputSent: [
        InputSent(name="repl", bytes_sent=6, bytes_given=6, eof=False),
        InputSent(name="repl", bytes_sent=4096, bytes_given=70000, eof=True),
    ],
    DaemonStatus: [
        DaemonStatus(
            pid=4242,
            version="0.1.0",
            started_at=iso_utc(1_700_000_000.0) or "",
            uptime_s=3600.0,
            address="/home/dev/.local/state/pm-actors/daemon.sock",
            database="/home/dev/.local/share/pm-actors/process-logs.db",
            database_bytes=1_048_576,
            log_file="/home/dev/.local/state/pm-actors/daemon.log",
            managed_processes=3,
            running_processes=2,
        )
    ],
    SystemStats: [
        SystemStats(
            cpu_percent=35.0,
            cpu_count=2,
            load_1m=0.5,
            load_5m=0.4,
            load_15m=0.3,
            memory_total_mb=24000.0,
            memory_used_mb=3000.0,
            memory_percent=12.5,
            disk_path="/home/ada/.local/share/pm-actors",
            disk_total_mb=250000.0,
            disk_used_mb=100000.0,
            disk_percent=40.0,
            managed_processes=3,
            running_processes=1,
        )
    ],
    WaitResult: [
        WaitResult(
            name="web",
            satisfied=True,
            until="log_line",
            elapsed_ms=312.0,
            state=ProcessState.RUNNING,
            matched_line=LINES.lines[0],
        ),
        WaitResult(
            name="web",
            satisfied=False,
            until="port",
            elapsed_ms=30000.0,
            state=ProcessState.RUNNING,
            last_lines=LINES.lines,
        ),
        WaitResult(
            name="web",
            satisfied=True,
            until="exited",
            elapsed_ms=812.0,
            state=ProcessState.BACKOFF,
            last_lines=LINES.lines,
            run=INFO.recent_runs[0],
        ),
        WaitResult(
            name="api",
            satisfied=False,
            until="port",
            elapsed_ms=1.0,
            state=ProcessState.FATAL,
            run=INFO.recent_runs[0],
            gave_up="it is fatal: gave up after 5 restarts in a row",
        ),
    ],
    **ERROR_SAMPLES,
}
"""Per result type, results a real backend could return (edge cases included: nulls, empty lists)."""

MINIMAL_ARGUMENTS: dict[str, dict[str, Any]] = {
    "start_process": {"name": "web", "command": "python3"},
    "stop_process": {"name": "web"},
    "restart_process": {"name": "web"},
    "kill_process": {"name": "web"},
    "send_input": {"name": "repl", "text": "print(1)\n"},
    "delete_process": {"name": "web"},
    "list_processes": {},
    "get_logs": {"name": "web"},
    "tail_logs": {"name": "web"},
    "search_logs": {"query": "error"},
    "clear_logs": {},
    "get_process_info": {"name": "web"},
    "configure_process": {"name": "web"},
    "get_process_stats": {"name": "web"},
    "check_process_health": {"name": "web"},
    "get_system_stats": {},
    "get_daemon_status": {},
    "wait_for": {"name": "web", "until": "exited"},
    "create_group": {"name": "stack"},
    "add_to_group": {"group": "stack", "members": [{"name": "web"}]},
    "remove_from_group": {"group": "stack", "members": ["web"]},
    "delete_group": {"group": "stack"},
    "start_group": {"group": "stack"},
    "stop_group": {"group": "stack"},
    "list_groups": {},
    "get_errors": {},
    "get_latest_errors": {},
    "mark_error_resolved": {"error_id": 3},
}
"""Per tool, the smallest arguments it accepts."""


def sample_result(result_type: type[msgspec.Struct]) -> Any:
    """The first sample of a result type: what a fake backend answers."""
    return SAMPLE_RESULTS[result_type][0]
