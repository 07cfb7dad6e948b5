"""The one vocabulary: every request and result pm-actors understands.

Each request is a `msgspec.Struct` tagged with its tool name. From these classes come the MCP
tool names, descriptions, annotations and JSON schemas (`mcp_shim/tools.py`), the IPC wire
format (`ipc/protocol.py` sends these very structs as msgpack) and the messages the actors
receive. Adding a tool is one request struct, one result struct and one handler.
"""

from __future__ import annotations

import datetime
from typing import Annotated, ClassVar, Literal

import msgspec

from pm_actors.states import Health, ProcessState

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
Stream = Literal["stdout", "stderr"]
SignalName = Literal[
    "SIGKILL", "SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGSTOP", "SIGCONT"
]
SearchMode = Literal["words", "phrase", "fts5", "substring"]


def iso_utc(timestamp: float | None) -> str | None:
    """Seconds since the epoch as an ISO 8601 UTC string with milliseconds, e.g. `...T10:00:00.250Z`."""
    if timestamp is None:
        return None
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ToolAnnotations(msgspec.Struct, frozen=True):
    """MCP tool hints: what a careful client may assume before calling."""

    read_only: bool
    destructive: bool
    idempotent: bool


READ_ONLY = ToolAnnotations(read_only=True, destructive=False, idempotent=True)


# Results ---------------------------------------------------------------------------------


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
    """Stop a process if it is active, then start it again from its stored definition."""

    result_type = ProcessRecord
    annotations = ToolAnnotations(read_only=False, destructive=True, idempotent=False)

    name: ProcessName


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
    stream: Annotated[Stream | None, msgspec.Meta(description="Only this stream; both by default.")] = None


class TailLogs(Request, frozen=True, tag="tail_logs"):
    """Return the newest output lines of a process, oldest of them first."""

    result_type = LogLines
    annotations = READ_ONLY

    name: ProcessName
    limit: Limit = DEFAULT_LIMIT
    stream: Annotated[Stream | None, msgspec.Meta(description="Only this stream; both by default.")] = None


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


RequestUnion = (
    StartProcess
    | StopProcess
    | RestartProcess
    | KillProcess
    | DeleteProcess
    | ListProcesses
    | GetLogs
    | TailLogs
    | SearchLogs
)

REQUEST_TYPES: tuple[type[Request], ...] = (
    StartProcess,
    StopProcess,
    RestartProcess,
    KillProcess,
    DeleteProcess,
    ListProcesses,
    GetLogs,
    TailLogs,
    SearchLogs,
)


def tool_name(request_type: type[Request]) -> str:
    """The MCP tool name of a request type: its msgspec tag."""
    return str(request_type.__struct_config__.tag)
