"""What pm-actors answers about processes and the machine: result structs shared by the actors,
the wire and MCP (the log tools' results are in `log_results`).

Each result has a `summary()`: the text an MCP client shows beside the structured content, and
often the only thing a model sees. It renders the whole result, compactly: every field a
program could read is there for the model to read too.
"""

from __future__ import annotations

import datetime
import shlex
from typing import Any, Literal

import msgspec

from pm_actors.log_results import LogLine, render_lines
from pm_actors.specs import Backoff, HealthCheck, Limits, RestartPolicy
from pm_actors.states import Health, ProcessState


def iso_utc(timestamp: float | None) -> str | None:
    """Seconds since the epoch as an ISO 8601 UTC string with milliseconds, e.g. `...T10:00:00.250Z`."""
    if timestamp is None:
        return None
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def number(value: float) -> str:
    """A measurement as people write it: 12.5, 0.1, 24000 (one decimal at most, no exponent)."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def settings(struct: msgspec.Struct | None) -> str:
    """Every field of a settings struct as `name=value`, after its kind for a tagged one."""
    if struct is None:
        return "none"
    kind = struct.__struct_config__.tag
    fields = [f"{name}={_setting(value)}" for name, value in msgspec.structs.asdict(struct).items()]
    return " ".join([str(kind), *fields] if kind else fields)


def _setting(value: Any) -> str:
    if isinstance(value, float):
        return number(value)
    if isinstance(value, list):
        return shlex.join(value) if value else "[]"
    return str(value)


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
    crash: str | None = None
    """What explains the latest run's crash, in one phrase (its error's headline, or how it ended)."""
    error_id: int | None = None
    """The error (get_errors) the crash is linked to."""

    def summary(self) -> str:
        """`name: state (pid)` (`name: crashed: why`), what is known of its latest run; then the
        command line."""
        state = self.state.value
        if self.crash:
            state = crash_phrase(self.state, self.crash, self.error_id)
            if self.state is not ProcessState.CRASHED:
                state = f"{self.state.value}; {state}"
        facts = [f"run {self.run_id}" if self.run_id is not None else "never run"]
        facts += [f"started {self.started_at}"] if self.started_at else []
        facts += [f"ended {self.ended_at}"] if self.ended_at else []
        facts += [f"exit code {self.exit_code}"] if self.exit_code is not None else []
        facts += [f"killed by {self.exit_signal}"] if self.exit_signal else []
        facts += [f"why: {self.end_reason}"] if self.end_reason else []
        facts += [f"health {self.health.value}", f"restarts {self.restarts}"]
        pid = f" (pid {self.pid})" if self.pid is not None else ""
        command = shlex.join([self.command, *self.args])
        return f"{self.name}: {state}{pid}; {'; '.join(facts)}\n  command: {command} (in {self.cwd})"


def crash_phrase(state: ProcessState | None, crash: str, error_id: int | None) -> str:
    """`crashed: ModuleNotFoundError: ... (error #3)`; `last run crashed: ...` once it is past it."""
    error = f" (error #{error_id})" if error_id is not None else ""
    prefix = "crashed" if state in (ProcessState.CRASHED, None) else "last run crashed"
    return f"{prefix}: {crash}{error}"


class ProcessList(msgspec.Struct, kw_only=True):
    processes: list[ProcessRecord]

    def summary(self) -> str:
        if not self.processes:
            return "No managed processes."
        return "\n".join(record.summary() for record in self.processes)


class DeletedProcess(msgspec.Struct, kw_only=True):
    name: str
    deleted: bool
    lines_deleted: int = 0
    """Stored output lines deleted with it (their search index entries too)."""

    def summary(self) -> str:
        return (
            f"Deleted {self.name}: its definition, its run history and its {self.lines_deleted:,} "
            "stored output lines."
        )


class StartedProcess(ProcessRecord, kw_only=True):
    """The record after a start, with what the start's new definition dropped of the old one."""

    dropped: list[str] = []
    """Settings the replaced definition had (a health check, a restart policy...) that the new
    one left at their default: start_process with `name` alone keeps them; configure_process sets them."""

    def summary(self) -> str:
        text = ProcessRecord.summary(self)
        if not self.dropped:
            return text
        return f"{text}\n  dropped from the previous definition: {', '.join(self.dropped)}"


class RestartedProcess(ProcessRecord, kw_only=True):
    """The record after a restart, with what the restart changed in the definition."""

    changed: list[str] = []

    def summary(self) -> str:
        return ProcessRecord.summary(self) + f"\n  changed: {', '.join(self.changed) or 'nothing'}"


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
            f"{self.name}: health check {verdict} in {number(self.duration_ms)} ms at {self.checked_at} "
            f"({self.detail}); {self.consecutive_failures} failures in a row; now {self.health.value}"
        )


class Breach(msgspec.Struct, kw_only=True):
    """A resource limit exceeded for a whole window."""

    kind: Literal["memory", "cpu"]
    detail: str
    at: str
    enforced: bool

    def summary(self) -> str:
        return f"{self.kind} at {self.at} ({'enforced' if self.enforced else 'reported only'}): {self.detail}"


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
    end_state: ProcessState | None = None
    crash: str | None = None
    error_id: int | None = None

    def summary(self) -> str:
        facts = [
            f"pid {self.pid}" if self.pid is not None else "no pid",
            f"{self.started_at} to {self.ended_at}",
        ]
        if self.crash:
            facts.append(crash_phrase(None, self.crash, self.error_id))
        elif self.end_state:
            facts.append(f"ended {self.end_state.value}")
        facts += [f"exit code {self.exit_code}"] if self.exit_code is not None else []
        facts += [f"killed by {self.exit_signal}"] if self.exit_signal else []
        facts += [f"why: {self.end_reason}"] if self.end_reason else []
        facts += [f"asked by {self.requested_by}"] if self.requested_by else []
        return f"run {self.run_id}: {'; '.join(facts)}"


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

    def summary(self) -> str:
        env = " ".join(f"{key}={value}" for key, value in self.env.items()) or "none"
        last_check = self.last_health_check.summary() if self.last_health_check else "none yet"
        pending = f"next restart at {self.next_restart_at}" if self.next_restart_at else "no restart pending"
        lines = [
            ProcessRecord.summary(self),
            f"  env: {env}",
            f"  restart: {self.restart}, at most {self.max_restarts} in a row; stop timeout "
            f"{number(self.stop_timeout_s)} s; {pending}",
            f"  backoff: {settings(self.backoff)}",
            f"  health check: {settings(self.health_check)}",
            f"  last health check: {last_check}",
            f"  limits: {settings(self.limits)}",
            f"  listening ports: {', '.join(map(str, self.listening_ports)) or 'none'}",
            f"  breaches: {'none' if not self.breaches else ''}",
            *(f"    {breach.summary()}" for breach in self.breaches),
            f"  recent runs: {'none ended yet' if not self.recent_runs else ''}",
            *(f"    {run.summary()}" for run in self.recent_runs),
        ]
        return "\n".join(line.rstrip() for line in lines)


class ConfiguredProcess(ProcessInfo, kw_only=True):
    """The process info after configure_process, with the settings whose value changed."""

    changed: list[str] = []

    def summary(self) -> str:
        return f"changed: {', '.join(self.changed) or 'nothing'}\n" + ProcessInfo.summary(self)


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
            f"{self.name} (pid {self.pid}) at {self.sampled_at}: CPU {number(self.cpu_percent)}%, memory "
            f"{number(self.rss_mb)} MB itself, {number(self.tree_rss_mb)} MB with its {self.children} "
            f"children; {self.threads} threads, {self.open_files} open files, up {number(self.uptime_s)} s; "
            f"listening ports: {ports}"
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
            f"CPU {number(self.cpu_percent)}% of {self.cpu_count} cores, load {number(self.load_1m)} "
            f"{number(self.load_5m)} {number(self.load_15m)}; memory {number(self.memory_used_mb)} of "
            f"{number(self.memory_total_mb)} MB used ({number(self.memory_percent)}%); disk of "
            f"{self.disk_path}: {number(self.disk_used_mb)} of {number(self.disk_total_mb)} MB used "
            f"({number(self.disk_percent)}%); {self.running_processes} of {self.managed_processes} "
            "managed processes running"
        )


class InputSent(msgspec.Struct, kw_only=True):
    """What send_input wrote to a process's standard input."""

    name: str
    bytes_sent: int
    bytes_given: int
    """Less was sent than given when the process does not read its input and the pipe is full."""
    eof: bool
    """The input was closed after the text: the process reads end of file."""

    def summary(self) -> str:
        text = f"{self.name}: sent {self.bytes_sent} bytes to its input"
        if self.bytes_sent < self.bytes_given:
            text += (
                f", {self.bytes_given - self.bytes_sent} of the {self.bytes_given} given did not fit "
                "(the process is not reading its input; send the rest later)"
            )
        return text + ("; input closed (end of file)" if self.eof else "")


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
    run: RunSummary | None = None
    """The run that ended: for `exited`, the run that was current when the wait began; when the
    condition can no longer hold, the process's last run."""
    gave_up: str | None = None
    """Why the condition can no longer hold (the process gave up restarting, was stopped...)."""

    def summary(self) -> str:
        outcome = "condition met" if self.satisfied else "condition not met"
        elapsed = number(self.elapsed_ms)
        text = f"{self.name}: {self.until} {outcome} after {elapsed} ms; state {self.state.value}"
        if self.gave_up is not None:
            text += f"; it cannot hold any more: {self.gave_up}"
        if self.port is not None:
            text += f"; listening on port {self.port}"
        if self.run is not None:
            text += f"\n{self.run.summary()}"
        if self.matched_line is not None:
            text += "; matching line:\n" + render_lines([self.matched_line])
        if self.last_lines:
            text += "\nlast lines:\n" + render_lines(self.last_lines)
        return text


class DaemonStatus(msgspec.Struct, kw_only=True):
    """The daemon that answers: where it lives and what it holds."""

    pid: int
    version: str
    started_at: str
    uptime_s: float
    address: str
    """The Unix socket path (or host:port) clients reach it at."""
    database: str
    database_bytes: int
    """The database file with its write-ahead log."""
    log_file: str
    managed_processes: int
    running_processes: int

    def summary(self) -> str:
        lines = [
            f"pm-actors daemon {self.version}, pid {self.pid}, up {number(self.uptime_s)} s",
            f"started {self.started_at}",
            f"socket {self.address}",
            f"database {self.database} ({self.database_bytes:,} bytes)",
            f"log {self.log_file}",
            f"{self.running_processes} of {self.managed_processes} managed processes running",
        ]
        return "\n".join(lines)
