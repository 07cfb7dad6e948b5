"""What pm-actors answers: every result struct, shared by the actors, the wire and MCP.

Each result has a `summary()`: the short text an MCP client shows beside the structured content.
"""

from __future__ import annotations

import datetime
from typing import Literal

import msgspec

from pm_actors.specs import Backoff, HealthCheck, Limits, RestartPolicy
from pm_actors.states import Health, ProcessState

Stream = Literal["stdout", "stderr"]


def iso_utc(timestamp: float | None) -> str | None:
    """Seconds since the epoch as an ISO 8601 UTC string with milliseconds, e.g. `...T10:00:00.250Z`."""
    if timestamp is None:
        return None
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ProcessRecord(msgspec.Struct, kw_only=True):
    """One managed process as a client sees it."""

    name: str
    state: ProcessState
    pid: int | None
    command: str
    args: list[str]
    cwd: str
    restarts: int
    exit_code: int | None
    started_at: str | None
    ended_at: str | None
    health: Health
    exit_signal: str | None = None
    end_reason: str | None = None
    run_id: int | None = None

    def summary(self) -> str:
        text = f"{self.name}: {self.state.value}"
        if self.pid is not None:
            text += f" (pid {self.pid})"
        if self.exit_code is not None:
            text += f", exit code {self.exit_code}"
        if self.exit_signal is not None:
            text += f", killed by {self.exit_signal}"
        if self.end_reason:
            text += f" - {self.end_reason}"
        return text


class ProcessList(msgspec.Struct, kw_only=True):
    processes: list[ProcessRecord]

    def summary(self) -> str:
        if not self.processes:
            return "No managed processes."
        return "\n".join(record.summary() for record in self.processes)


class DeletedProcess(msgspec.Struct, kw_only=True):
    name: str
    deleted: bool

    def summary(self) -> str:
        return f"Deleted {self.name}, its run history and its stored output."


class LogLine(msgspec.Struct, kw_only=True):
    id: int
    stream: Stream
    ts: str
    text: str


class LogLines(msgspec.Struct, kw_only=True):
    """A page of output lines in the order they were printed."""

    lines: list[LogLine]
    next_after_id: int
    has_more: bool
    byte_cap_reached: bool = False
    """True when the page stopped early because its text reached the size cap of one result."""

    def summary(self) -> str:
        text = "\n".join(f"[{line.stream}] {line.text}" for line in self.lines)
        if self.byte_cap_reached:
            text += f"\n(page cut at the size cap; continue with after_id={self.next_after_id})"
        elif self.has_more:
            text += f"\n(more lines: continue with after_id={self.next_after_id})"
        return text or "No output lines."


class SearchMatch(msgspec.Struct, kw_only=True):
    id: int
    name: str
    stream: Stream
    ts: str
    text: str


class SearchResult(msgspec.Struct, kw_only=True):
    """Matching lines, newest first."""

    matches: list[SearchMatch]
    has_more: bool
    unindexed: int
    """Lines stored but not yet in the full-text index, which a words/phrase/fts5 search cannot see."""
    byte_cap_reached: bool = False
    """True when the matches stopped early because their text reached the size cap of one result."""

    def summary(self) -> str:
        if not self.matches:
            return "No matching lines."
        text = "\n".join(f"{match.name} [{match.stream}] {match.text}" for match in self.matches)
        if self.has_more:
            text += "\n(more matches: raise limit or narrow the query)"
        return text


class StartedProcess(ProcessRecord, kw_only=True):
    """The record after a start, with what the start's new definition dropped of the old one."""

    dropped: list[str] = []
    """Settings the replaced definition had (a health check, a restart policy...) that the new
    one left at their default: start_process with `name` alone keeps them; configure_process sets them."""

    def summary(self) -> str:
        text = ProcessRecord.summary(self)
        if not self.dropped:
            return text
        return f"{text}\ndropped from the previous definition: {', '.join(self.dropped)}"


class RestartedProcess(ProcessRecord, kw_only=True):
    """The record after a restart, with what the restart changed in the definition."""

    changed: list[str] = []

    def summary(self) -> str:
        text = ProcessRecord.summary(self)
        return text + (f" (changed: {', '.join(self.changed)})" if self.changed else "")


class HealthReport(msgspec.Struct, kw_only=True):
    """The outcome of one health check."""

    name: str
    healthy: bool
    health: Health
    """The process's health after this check (unhealthy only after enough failures in a row)."""
    detail: str
    duration_ms: float
    checked_at: str
    consecutive_failures: int

    def summary(self) -> str:
        verdict = "passed" if self.healthy else "failed"
        return (
            f"{self.name}: health check {verdict} in {self.duration_ms:.1f} ms ({self.detail}); "
            f"now {self.health.value}"
        )


class Breach(msgspec.Struct, kw_only=True):
    """A resource limit exceeded for a whole window."""

    kind: Literal["memory", "cpu"]
    detail: str
    at: str
    enforced: bool


class RunSummary(msgspec.Struct, kw_only=True):
    """One run of a process: when, as which pid, how it ended and who asked for it."""

    run_id: int
    pid: int | None
    started_at: str | None
    ended_at: str | None
    exit_code: int | None
    exit_signal: str | None
    end_reason: str | None
    requested_by: str | None


class ProcessInfo(ProcessRecord, kw_only=True):
    """Everything about one process: its record, its definition and supervision settings."""

    env: dict[str, str]
    restart: RestartPolicy
    max_restarts: int
    backoff: Backoff
    health_check: HealthCheck | None
    limits: Limits
    stop_timeout_s: float
    listening_ports: list[int]
    last_health_check: HealthReport | None
    breaches: list[Breach]
    next_restart_at: str | None
    recent_runs: list[RunSummary]
    """The latest ended runs, newest first (all of them are kept in the database's runs table)."""


class ProcessStats(msgspec.Struct, kw_only=True):
    """Resource use of a process and its whole child tree."""

    name: str
    pid: int
    cpu_percent: float
    """Of one core, summed over the tree since the previous sample (100 = one core busy)."""
    rss_mb: float
    tree_rss_mb: float
    threads: int
    open_files: int
    children: int
    uptime_s: float
    listening_ports: list[int]
    sampled_at: str

    def summary(self) -> str:
        ports = ", ".join(str(port) for port in self.listening_ports) or "none"
        return (
            f"{self.name} (pid {self.pid}): CPU {self.cpu_percent:.1f}%, memory {self.tree_rss_mb:.1f} MB "
            f"with {self.children} children, {self.threads} threads, up {self.uptime_s:.0f} s, ports {ports}"
        )


class SystemStats(msgspec.Struct, kw_only=True):
    cpu_percent: float
    cpu_count: int
    load_1m: float
    load_5m: float
    load_15m: float
    memory_total_mb: float
    memory_used_mb: float
    memory_percent: float
    disk_path: str
    disk_total_mb: float
    disk_used_mb: float
    disk_percent: float
    managed_processes: int
    running_processes: int

    def summary(self) -> str:
        return (
            f"CPU {self.cpu_percent:.0f}% of {self.cpu_count} cores (load {self.load_1m:.2f}), "
            f"memory {self.memory_used_mb:.0f}/{self.memory_total_mb:.0f} MB, "
            f"disk {self.disk_percent:.0f}% used; "
            f"{self.running_processes} of {self.managed_processes} managed processes running"
        )


class WaitResult(msgspec.Struct, kw_only=True):
    """Whether the condition of a wait_for held before the timeout, and what showed it."""

    name: str
    satisfied: bool
    until: str
    elapsed_ms: float
    state: ProcessState
    matched_line: LogLine | None = None
    port: int | None = None
    last_lines: list[LogLine] = []
    """On a timeout, or when the process has ended: the newest output lines, to see why."""

    def summary(self) -> str:
        if self.satisfied:
            found = (
                self.matched_line.text
                if self.matched_line
                else (f"port {self.port}" if self.port else self.state)
            )
            return f"{self.name}: {self.until} after {self.elapsed_ms:.0f} ms ({found})"
        tail = "\n".join(line.text for line in self.last_lines)
        return (
            f"{self.name}: timed out after {self.elapsed_ms:.0f} ms waiting for {self.until}; "
            f"state {self.state.value}\n{tail}"
        )


ErrorCategory = Literal[
    "port_in_use",
    "module_not_found",
    "file_not_found",
    "permission_denied",
    "connection_refused",
    "out_of_memory",
    "segfault",
    "killed_by_signal",
    "syntax_error",
    "timeout",
    "unhandled_exception",
    "error_line",
    "exit_nonzero",
]
"""What went wrong, in words an agent can act on. The last three are the general ones: a stack
trace no specific rule names, a line that says it is an error, a crash nothing else explains."""

TRACE_LINES_IN_TEXT = 12
"""Lines of a trace shown in an error's text (its last ones, where the error is named); the
structured content carries the whole kept trace."""


class SimilarError(msgspec.Struct, kw_only=True):
    """The same error (same fingerprint) in another process."""

    id: int
    name: str
    count: int


class ErrorRecord(msgspec.Struct, kw_only=True):
    """One error, however often it happened: repeats raise `count` and `last_seen`."""

    id: int
    name: str
    category: ErrorCategory
    message: str
    """The line that names the error, e.g. `ModuleNotFoundError: No module named 'flask'`."""
    error_type: str | None
    fingerprint: str
    count: int
    first_seen: str
    last_seen: str
    runs_affected: int
    last_run_id: int | None
    stream: Stream
    first_line_id: int | None
    last_line_id: int | None
    """The output lines the latest occurrence spans (they may since have been trimmed)."""
    trace: list[str]
    frames: list[str]
    context: list[str]
    """Lines printed just before the latest occurrence."""
    resolved: bool
    resolved_at: str | None
    resolution_note: str | None
    reopened: int
    """How many times it came back after being marked resolved."""
    last_resolved_at: str | None
    similar: list[SimilarError]

    def summary(self) -> str:
        runs = f"{self.runs_affected} run{'s' if self.runs_affected != 1 else ''}"
        head = (
            f"#{self.id} {self.name}: {self.category} x{self.count} ({runs}; first {self.first_seen}, "
            f"last {self.last_seen}){_resolution(self)}\n  {self.message}"
        )
        shown = self.trace[-TRACE_LINES_IN_TEXT:] if len(self.trace) > 1 else []
        lines = [head]
        if self.context:
            lines.append("  before: " + " | ".join(self.context[-3:]))
        if shown:
            omitted = len(self.trace) - len(shown)
            lines.extend(
                ["  trace" + (f" (last {len(shown)} of {len(self.trace)} lines):" if omitted else ":")]
            )
            lines.extend(f"    {line}" for line in shown)
        if self.similar:
            lines.append(
                "  also in: "
                + ", ".join(f"{other.name} (#{other.id} x{other.count})" for other in self.similar)
            )
        return "\n".join(lines)


def _resolution(error: ErrorRecord) -> str:
    if error.resolved:
        note = f": {error.resolution_note}" if error.resolution_note else ""
        return f" RESOLVED at {error.resolved_at}{note}"
    if error.reopened:
        return f" CAME BACK after being resolved at {error.last_resolved_at}"
    return ""


class ErrorList(msgspec.Struct, kw_only=True):
    """Errors, newest first; `next_after_id` continues the listing."""

    errors: list[ErrorRecord]
    has_more: bool
    next_after_id: int | None

    def summary(self) -> str:
        if not self.errors:
            return "No errors found."
        text = "\n".join(error.summary() for error in self.errors)
        if self.has_more:
            text += f"\n(more errors: continue with after_id={self.next_after_id})"
        return text


class HourCount(msgspec.Struct, kw_only=True):
    hour: str
    """The start of the hour, ISO 8601 UTC."""
    count: int


class ErrorOverview(msgspec.Struct, kw_only=True):
    """The unresolved errors, newest first, and how errors are spread and trending."""

    errors: list[ErrorRecord]
    unresolved: int
    by_category: dict[str, int]
    by_process: dict[str, int]
    """Occurrences of unresolved errors, by category and by process."""
    per_hour: list[HourCount]
    """Occurrences of every error in each of the last 24 hours, oldest first."""

    def summary(self) -> str:
        if not self.unresolved and not any(hour.count for hour in self.per_hour):
            return "No unresolved errors, and none in the last 24 hours."
        spread = ", ".join(f"{name} {count}" for name, count in self.by_category.items()) or "none"
        processes = ", ".join(f"{name} {count}" for name, count in self.by_process.items()) or "none"
        trend = " ".join(str(hour.count) for hour in self.per_hour)
        lines = [
            f"{self.unresolved} unresolved errors. By category: {spread}. By process: {processes}.",
            f"Occurrences per hour, last 24 h (oldest first): {trend}",
            *(error.summary() for error in self.errors),
        ]
        return "\n".join(lines)
