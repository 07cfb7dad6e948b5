"""The one vocabulary: every request and result pm-actors understands.

Each request is a `msgspec.Struct` tagged with its tool name. From these classes come the MCP
tool names, descriptions, annotations and JSON schemas (`mcp_shim/tools.py`), the IPC wire
format (`ipc/protocol.py` sends these very structs as msgpack) and the messages the actors
receive. Adding a tool is one request struct, one result struct and one handler. The group
and error requests and the types requests are built from live in `group_requests.py`,
`error_requests.py` and `request_base.py`; they are named here too, so that every request is
imported from this one module.
"""

from __future__ import annotations

import typing
from typing import Annotated, Literal

import msgspec

from pm_actors.error_requests import (
    GetErrors,
    GetLatestErrors,
    MarkErrorResolved,
)
from pm_actors.group_requests import (
    AddToGroup,
    CreateGroup,
    DeleteGroup,
    ListGroups,
    RemoveFromGroup,
    StartGroup,
    StopGroup,
)
from pm_actors.log_results import ClearedLogs, LogLines, LogTail, SearchResult
from pm_actors.request_base import (
    DEFAULT_LIMIT,
    DEFAULT_MAX_CHARS,
    DEFAULT_MAX_LINE_CHARS,
    MAX_CONTEXT_LINES,
    MAX_QUERY_CHARS,
    MAX_QUERY_WORDS,
    READ_ONLY,
    Level,
    Limit,
    MaxChars,
    MaxLineChars,
    Request,
    SearchMode,
    SignalName,
    StreamFilter,
    TimeSpec,
    ToolAnnotations,
)
from pm_actors.results import (
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
    StartedProcess,
    SystemStats,
    WaitResult,
)
from pm_actors.specs import (
    NAME_PATTERN,
    Arguments,
    Backoff,
    Environment,
    HealthCheck,
    Limits,
    ProcessName,
    ProcessSpec,
    ReadyCondition,
    RestartPolicy,
)


class StartProcess(Request, ProcessSpec, frozen=True, tag="start_process"):
    """Start a managed process from an executable and its arguments (never through a shell).

    The executable must resolve under an allowed command root. A name that is not active gets
    this new definition, and the result lists the settings of the old one it dropped; with
    `name` alone, the stored definition starts again as it is (health check, restart policy,
    limits). Starting a name that is already active is an error (use restart_process).
    Returns the process record once the child is running."""

    result_type = StartedProcess
    annotations = ToolAnnotations(read_only=False, destructive=False, idempotent=False)


class StopProcess(Request, frozen=True, tag="stop_process"):
    """Stop a process gracefully: SIGTERM to its process group, then SIGKILL after the stop
    timeout. Returns once the process has ended and all its output is stored."""

    result_type = ProcessRecord
    annotations = ToolAnnotations(read_only=False, destructive=True, idempotent=True)

    name: ProcessName
    timeout_s: Annotated[
        Annotated[float, msgspec.Meta(ge=0, le=3600)] | None,
        msgspec.Meta(description="Seconds to wait after SIGTERM before SIGKILL (default 10)."),
    ] = None


class RestartProcess(Request, frozen=True, tag="restart_process"):
    """Stop a process if it is active, then start it again from its stored definition,
    optionally with new arguments or environment; the result says what changed."""

    result_type = RestartedProcess
    annotations = ToolAnnotations(read_only=False, destructive=True, idempotent=False)

    name: ProcessName
    args: Annotated[Arguments | None, msgspec.Meta(description="New arguments (kept if omitted).")] = None
    env: Annotated[
        Environment | None,
        msgspec.Meta(description="New environment overlay, replacing the stored one (kept if omitted)."),
    ] = None


class KillProcess(Request, frozen=True, tag="kill_process"):
    """Send a signal to the process group of a running process (default SIGKILL).

    Returns once the process has ended, or after a short wait if the signal did not end it."""

    result_type = ProcessRecord
    annotations = ToolAnnotations(read_only=False, destructive=True, idempotent=False)

    name: ProcessName
    signal: SignalName = "SIGKILL"


class DeleteProcess(Request, frozen=True, tag="delete_process"):
    """Remove the definition of a process that is not active, with its run history and output."""

    result_type = DeletedProcess
    annotations = ToolAnnotations(read_only=False, destructive=True, idempotent=False)

    name: ProcessName


class ListProcesses(Request, frozen=True, tag="list_processes"):
    """List every managed process with its state, pid, restarts and last exit."""

    result_type = ProcessList
    annotations = READ_ONLY


class GetLogs(Request, frozen=True, tag="get_logs"):
    """Read a process's output lines in order, paging forward with after_id."""

    result_type = LogLines
    annotations = READ_ONLY

    name: ProcessName
    after_id: Annotated[
        int, msgspec.Meta(ge=0, description="Return lines after this id (0: from the oldest stored).")
    ] = 0
    limit: Limit = DEFAULT_LIMIT
    stream: StreamFilter = None
    max_chars: MaxChars = DEFAULT_MAX_CHARS
    max_line_chars: MaxLineChars = DEFAULT_MAX_LINE_CHARS


class TailLogs(Request, frozen=True, tag="tail_logs"):
    """Return the newest output lines of a process, oldest of them first; page back to older
    lines with before_id."""

    result_type = LogTail
    annotations = READ_ONLY

    name: ProcessName
    limit: Limit = DEFAULT_LIMIT
    stream: StreamFilter = None
    before_id: Annotated[
        Annotated[int, msgspec.Meta(ge=1)] | None,
        msgspec.Meta(description="Only lines before this id (the next_before_id of a previous tail)."),
    ] = None
    since: Annotated[
        TimeSpec | None,
        msgspec.Meta(description="Only lines stamped at or after this (15m: the last 15 minutes)."),
    ] = None
    max_chars: MaxChars = DEFAULT_MAX_CHARS
    max_line_chars: MaxLineChars = DEFAULT_MAX_LINE_CHARS


class SearchLogs(Request, frozen=True, tag="search_logs"):
    """Search stored output, newest match first.

    Modes: words (the default: every word must occur, in any order, case-insensitively, also
    inside identifiers: Error finds TypeError and ConnectionRefusedError, user finds user_id),
    phrase (the words in this order), fts5 (raw SQLite FTS5 query syntax), substring (exact
    text anywhere in a line, case-sensitive), regex (a Python regular expression, scanning a
    bounded window of lines per call). Filters: name, since/until, stream, run, level. Each
    match can carry context lines; continue a long search with cursor."""

    result_type = SearchResult
    annotations = READ_ONLY

    query: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=MAX_QUERY_CHARS,
            description=f"What to look for (at most {MAX_QUERY_CHARS} characters, {MAX_QUERY_WORDS} words).",
        ),
    ]
    name: Annotated[
        Annotated[str, msgspec.Meta(pattern=NAME_PATTERN)] | None,
        msgspec.Meta(description="Only this process; all processes by default."),
    ] = None
    mode: SearchMode = "words"
    limit: Limit = DEFAULT_LIMIT
    since: Annotated[TimeSpec | None, msgspec.Meta(description="Only lines stamped at or after this.")] = None
    until: Annotated[TimeSpec | None, msgspec.Meta(description="Only lines stamped before this.")] = None
    stream: StreamFilter = None
    run: Annotated[
        Literal["current"] | Annotated[int, msgspec.Meta(ge=1)] | None,
        msgspec.Meta(description='Only this run: a run id, or "current" (the latest run of `name`).'),
    ] = None
    level: Annotated[
        Level | None,
        msgspec.Meta(
            description="Only lines that carry this level or a more severe one (ERROR, level=warn, "
            "[info], ValueError: ...); lines without a level are left out."
        ),
    ] = None
    context: Annotated[
        int,
        msgspec.Meta(
            ge=0,
            le=MAX_CONTEXT_LINES,
            description="Lines of the same process shown before and after each match.",
        ),
    ] = 0
    order: Annotated[
        Literal["newest", "oldest"], msgspec.Meta(description="Newest matches first, or oldest.")
    ] = "newest"
    cursor: Annotated[
        Annotated[int, msgspec.Meta(ge=0)] | None,
        msgspec.Meta(description="The next_cursor of a previous answer: continue after it."),
    ] = None
    max_chars: MaxChars = DEFAULT_MAX_CHARS
    max_line_chars: MaxLineChars = DEFAULT_MAX_LINE_CHARS


class ClearLogs(Request, frozen=True, tag="clear_logs"):
    """Delete stored output lines, with their search index entries: every process's, or one
    process's (name), all of them or only those older than `before`. Returns how many went."""

    result_type = ClearedLogs
    annotations = ToolAnnotations(read_only=False, destructive=True, idempotent=True)

    name: Annotated[
        Annotated[str, msgspec.Meta(pattern=NAME_PATTERN)] | None,
        msgspec.Meta(description="Only this process's lines; every process's by default."),
    ] = None
    before: Annotated[TimeSpec | None, msgspec.Meta(description="Only lines stamped before this.")] = None


class GetProcessInfo(Request, frozen=True, tag="get_process_info"):
    """Everything about one process: state, current run, restarts, last exit, health, ports,
    and its supervision settings (restart policy, backoff, health check, limits)."""

    result_type = ProcessInfo
    annotations = READ_ONLY

    name: ProcessName


class ConfigureProcess(Request, frozen=True, tag="configure_process"):
    """Change how a process is supervised without restarting it: restart policy, backoff,
    health check, resource limits, stop timeout. Omitted fields keep their value; a new health
    check or new limits apply to the running process at once. Returns the process info and
    which settings changed."""

    result_type = ConfiguredProcess
    annotations = ToolAnnotations(read_only=False, destructive=False, idempotent=True)

    name: ProcessName
    restart: RestartPolicy | None = None
    max_restarts: Annotated[int, msgspec.Meta(ge=0, le=10_000)] | None = None
    backoff: Backoff | None = None
    health_check: HealthCheck | None = None
    remove_health_check: Annotated[bool, msgspec.Meta(description="Stop health-checking the process.")] = (
        False
    )
    limits: Limits | None = None
    stop_timeout_s: Annotated[float, msgspec.Meta(ge=0, le=3600)] | None = None


class GetProcessStats(Request, frozen=True, tag="get_process_stats"):
    """CPU, memory, threads, open files and listening ports of a running process and its children."""

    result_type = ProcessStats
    annotations = READ_ONLY

    name: ProcessName


class CheckProcessHealth(Request, frozen=True, tag="check_process_health"):
    """Run the process's health check now and report the outcome."""

    result_type = HealthReport
    annotations = ToolAnnotations(read_only=False, destructive=False, idempotent=True)

    name: ProcessName


class GetSystemStats(Request, frozen=True, tag="get_system_stats"):
    """CPU, memory, load and disk of the machine, and how many processes are managed."""

    result_type = SystemStats
    annotations = READ_ONLY


class WaitFor(Request, ReadyCondition, frozen=True, tag="wait_for"):
    """Wait until a process is ready, in one call: until it is running, a log line matches
    `pattern` (a regular expression), a TCP `port` is listening, the process is healthy, or its
    current run has ended (exited, with any code, even if a restart follows: the answer says how
    that run ended and the error that explains a crash). Returns as soon as it holds, at once
    with the reason when it no longer can (the process gave up restarting, was stopped), or at
    the timeout, with the newest output lines whenever it did not hold or the process ended."""

    result_type = WaitResult
    annotations = READ_ONLY

    name: ProcessName


MAX_INPUT_CHARS = 65_536
"""One send_input at most: what a pipe holds when the process is not reading."""


class SendInput(Request, frozen=True, tag="send_input"):
    """Write text to the standard input of a running process started with stdin: true (a REPL,
    a prompt waiting for y). Nothing is added: end the text with a newline to send a line.
    What is sent is stored in its output on stream stdin, in order with what it prints."""

    result_type = InputSent
    annotations = ToolAnnotations(read_only=False, destructive=False, idempotent=False)

    name: ProcessName
    text: Annotated[str, msgspec.Meta(max_length=MAX_INPUT_CHARS, description="What to write.")] = ""
    eof: Annotated[
        bool, msgspec.Meta(description="Close the input after the text: the process reads end of file.")
    ] = False


class GetDaemonStatus(Request, frozen=True, tag="get_daemon_status"):
    """The daemon itself: its pid, version, uptime, socket, database file and size, and how
    many processes it manages and runs."""

    result_type = DaemonStatus
    annotations = READ_ONLY


RequestUnion = (
    StartProcess
    | StopProcess
    | RestartProcess
    | KillProcess
    | SendInput
    | DeleteProcess
    | ListProcesses
    | GetLogs
    | TailLogs
    | SearchLogs
    | ClearLogs
    | GetProcessInfo
    | ConfigureProcess
    | GetProcessStats
    | CheckProcessHealth
    | GetSystemStats
    | WaitFor
    | CreateGroup
    | AddToGroup
    | RemoveFromGroup
    | DeleteGroup
    | StartGroup
    | StopGroup
    | ListGroups
    | GetDaemonStatus
    | GetErrors
    | GetLatestErrors
    | MarkErrorResolved
)

REQUEST_TYPES: tuple[type[Request], ...] = typing.get_args(RequestUnion)
"""Every request type, in the order of `RequestUnion` (the order tools are listed in)."""


# Events ----------------------------------------------------------------------------------

TopicKind = Literal["state", "output", "processes", "errors"]
"""What changed: a process's record (state, pid, health, restarts), its stored output (new
lines), which processes exist (one was added or deleted), or its errors (one found, counted
again, linked to a crash or resolved)."""


class Topic(msgspec.Struct, frozen=True):
    """A subject a client may subscribe to on the daemon's event stream. With `state`, `output`
    or `errors`, `name` is the process; None stands for every process. The daemon reports the
    topic that changed, never the data: a client reads it with the requests above."""

    kind: TopicKind
    name: str | None = None


def tool_name(request_type: type[Request]) -> str:
    """The MCP tool name of a request type: its msgspec tag."""
    return str(request_type.__struct_config__.tag)
