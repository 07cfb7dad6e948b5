"""The one vocabulary: every request and result pm-actors understands.

Each request is a `msgspec.Struct` tagged with its tool name. From these classes come the MCP
tool names, descriptions, annotations and JSON schemas (`mcp_shim/tools.py`), the IPC wire
format (`ipc/protocol.py` sends these very structs as msgpack) and the messages the actors
receive. Adding a tool is one request struct, one result struct and one handler.
"""

from __future__ import annotations

import typing
from typing import Annotated, ClassVar, Literal

import msgspec

from pm_actors.results import (
    DeletedProcess,
    HealthReport,
    InputSent,
    LogLines,
    ProcessInfo,
    ProcessList,
    ProcessRecord,
    ProcessStats,
    RestartedProcess,
    SearchResult,
    Stream,
    SystemStats,
    WaitResult,
)
from pm_actors.specs import Backoff, HealthCheck, Limits, RestartPolicy

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
MAX_LIMIT = 10_000
DEFAULT_LIMIT = 100

ProcessName = Annotated[
    str,
    msgspec.Meta(
        pattern=NAME_PATTERN,
        description="Name of the managed process: letters, digits, '.', '_' and '-', at most 64.",
    ),
]
Limit = Annotated[
    int,
    msgspec.Meta(ge=1, le=MAX_LIMIT, description=f"How many items at most (1 to {MAX_LIMIT})."),
]
SignalName = Literal[
    "SIGKILL", "SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGSTOP", "SIGCONT"
]
SearchMode = Literal["words", "phrase", "fts5", "substring"]


class ToolAnnotations(msgspec.Struct, frozen=True):
    """MCP tool hints: what a careful client may assume before calling."""

    read_only: bool
    destructive: bool
    idempotent: bool


READ_ONLY = ToolAnnotations(read_only=True, destructive=False, idempotent=True)


# Requests --------------------------------------------------------------------------------


class Request(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="tool"):
    """Base of every request; the tag is the MCP tool name."""

    result_type: ClassVar[type[msgspec.Struct]]
    annotations: ClassVar[ToolAnnotations]


class StartProcess(Request, frozen=True, tag="start_process"):
    """Start a managed process from an executable and its arguments (never through a shell).

    The executable must resolve under an allowed command root. A name that is not active gets
    this new definition; starting a name that is already active is an error (use
    restart_process). Returns the process record once the child is running."""

    result_type = ProcessRecord
    annotations = ToolAnnotations(read_only=False, destructive=False, idempotent=False)

    name: ProcessName
    command: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            description="Executable: a path, or a name looked up on the daemon's PATH.",
        ),
    ]
    args: Annotated[list[str], msgspec.Meta(description="Arguments, one string each.")] = []
    cwd: Annotated[
        str | None,
        msgspec.Meta(description="Working directory; defaults to the caller's working directory."),
    ] = None
    env: Annotated[
        dict[str, str],
        msgspec.Meta(description="Variables set on top of the daemon's environment."),
    ] = {}
    restart: Annotated[
        RestartPolicy | None,
        msgspec.Meta(
            description="Restart automatically: never, on-failure or always (PM_AUTO_RESTART_ENABLED)."
        ),
    ] = None
    max_restarts: Annotated[
        int,
        msgspec.Meta(ge=0, le=10_000, description="Automatic restarts in a row before giving up (fatal)."),
    ] = 10
    backoff: Backoff = msgspec.field(default_factory=Backoff)
    health_check: Annotated[
        HealthCheck | None, msgspec.Meta(description="A command, TCP or HTTP check run on an interval.")
    ] = None
    limits: Annotated[
        Limits | None,
        msgspec.Meta(description="Resource limits; PM_MAX_MEMORY_MB and PM_MAX_CPU_PERCENT by default."),
    ] = None
    stop_timeout_s: Annotated[
        float, msgspec.Meta(ge=0, le=3600, description="Seconds from SIGTERM to SIGKILL when stopping.")
    ] = 10.0
    stdin: Annotated[
        bool,
        msgspec.Meta(
            description="Keep a pipe to its standard input open, for send_input (a REPL, a prompt "
            "waiting for y). Without it the process reads end of file at once."
        ),
    ] = False


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
    args: Annotated[list[str] | None, msgspec.Meta(description="New arguments (kept if omitted).")] = None
    env: Annotated[
        dict[str, str] | None,
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
    stream: Annotated[Stream | None, msgspec.Meta(description="Only this stream; all by default.")] = None


class TailLogs(Request, frozen=True, tag="tail_logs"):
    """Return the newest output lines of a process, oldest of them first."""

    result_type = LogLines
    annotations = READ_ONLY

    name: ProcessName
    limit: Limit = DEFAULT_LIMIT
    stream: Annotated[Stream | None, msgspec.Meta(description="Only this stream; all by default.")] = None


class SearchLogs(Request, frozen=True, tag="search_logs"):
    """Search stored output, newest match first.

    Modes: words (every word must occur, in any order), phrase (the words in this order),
    fts5 (raw SQLite FTS5 query syntax), substring (exact text anywhere in a line)."""

    result_type = SearchResult
    annotations = READ_ONLY

    query: Annotated[str, msgspec.Meta(min_length=1, description="What to look for.")]
    name: Annotated[
        Annotated[str, msgspec.Meta(pattern=NAME_PATTERN)] | None,
        msgspec.Meta(description="Only this process; all processes by default."),
    ] = None
    mode: SearchMode = "words"
    limit: Limit = DEFAULT_LIMIT


class GetProcessInfo(Request, frozen=True, tag="get_process_info"):
    """Everything about one process: state, current run, restarts, last exit, health, ports,
    and its supervision settings (restart policy, backoff, health check, limits)."""

    result_type = ProcessInfo
    annotations = READ_ONLY

    name: ProcessName


class ConfigureProcess(Request, frozen=True, tag="configure_process"):
    """Change how a process is supervised without restarting it: restart policy, backoff,
    health check, resource limits, stop timeout. Omitted fields keep their value; a new health
    check or new limits apply to the running process at once. Returns the process info."""

    result_type = ProcessInfo
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


class WaitFor(Request, frozen=True, tag="wait_for"):
    """Wait until a process is ready, in one call: until a log line matches `pattern` (a regular
    expression), a TCP `port` is listening, the process is healthy, or it has exited. Returns as
    soon as it holds, or at the timeout with the newest output lines."""

    result_type = WaitResult
    annotations = READ_ONLY

    name: ProcessName
    until: Literal["log_line", "port", "healthy", "exited"]
    pattern: Annotated[str | None, msgspec.Meta(description="Regular expression, for until=log_line.")] = None
    port: Annotated[
        Annotated[int, msgspec.Meta(ge=1, le=65_535)] | None,
        msgspec.Meta(description="TCP port, for until=port; any port the process listens on if omitted."),
    ] = None
    timeout_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 30.0


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
    | GetProcessInfo
    | ConfigureProcess
    | GetProcessStats
    | CheckProcessHealth
    | GetSystemStats
    | WaitFor
)

REQUEST_TYPES: tuple[type[Request], ...] = typing.get_args(RequestUnion)
"""Every request type, in the order of `RequestUnion` (the order tools are listed in)."""


# Events ----------------------------------------------------------------------------------

TopicKind = Literal["state", "output", "processes"]
"""What changed: a process's record (state, pid, health, restarts), its stored output (new
lines), or which processes exist (one was added or deleted)."""


class Topic(msgspec.Struct, frozen=True):
    """A subject a client may subscribe to on the daemon's event stream. With `state` or
    `output`, `name` is the process; None stands for every process. The daemon reports the
    topic that changed, never the data: a client reads it with the requests above."""

    kind: TopicKind
    name: str | None = None


def tool_name(request_type: type[Request]) -> str:
    """The MCP tool name of a request type: its msgspec tag."""
    return str(request_type.__struct_config__.tag)
