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

from pm_actors.error_results import ErrorCategory, ErrorList, ErrorOverview, ErrorRecord
from pm_actors.group_results import DeletedGroup, GroupInfo, GroupList, GroupStarted, GroupStopped
from pm_actors.log_results import ClearedLogs, LogLines, LogTail, SearchResult, Stream
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
    ENV_NAME,
    NAME_PATTERN,
    NO_NUL,
    Arguments,
    Backoff,
    Environment,
    HealthCheck,
    Limits,
    ProcessName,
    ProcessSpec,
    ReadyCondition,
    RestartPolicy,
    StopStrategy,
)

MAX_LIMIT = 10_000
DEFAULT_LIMIT = 100
DEFAULT_MAX_CHARS = 16_000
"""Characters of line text an answer carries unless asked for more: about 4,000 tokens, which a
model can afford on every call."""
MAX_CHARS = 1_000_000
"""The hard cap of `max_chars` (about 1 MB of text): no answer is ever larger."""
DEFAULT_MAX_LINE_CHARS = 2_000
"""Longer lines are cut to this unless asked otherwise: one minified bundle or base64 blob
must not take the whole budget."""
MAX_CONTEXT_LINES = 20
MAX_QUERY_CHARS = 1000
"""A search query: a line, or a few; a longer one is a paste, not a search."""
MAX_QUERY_WORDS = 64
"""Words a search may require: each is one more FTS5 term to intersect (cost grows with them)."""

PATTERN_MEANINGS = {
    NO_NUL: "no NUL byte",
    ENV_NAME: "a variable's name is not empty and holds no '=' or NUL byte",
}
"""What each pattern of the schema means, for an error that quotes the regex."""


def pattern_meaning(message: str) -> str:
    """ " (that is: ...)" for a validation message that quotes one of our patterns, else ""."""
    for pattern, meaning in PATTERN_MEANINGS.items():
        if repr(pattern) in message or pattern in message:
            return f" (that is: {meaning})"
    return ""


Limit = Annotated[
    int,
    msgspec.Meta(ge=1, le=MAX_LIMIT, description=f"How many items at most (1 to {MAX_LIMIT})."),
]
ErrorLimit = Annotated[int, msgspec.Meta(ge=1, le=1000, description="How many errors at most (1 to 1000).")]
SignalName = Literal[
    "SIGKILL", "SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGSTOP", "SIGCONT"
]
SearchMode = Literal["words", "phrase", "fts5", "substring", "regex"]
Level = Literal["trace", "debug", "info", "warning", "error", "fatal"]
"""Severities from the least to the most severe."""
MaxChars = Annotated[
    int,
    msgspec.Meta(
        ge=1_000,
        le=MAX_CHARS,
        description=f"Characters of line text this answer may carry (default {DEFAULT_MAX_CHARS:,}, at most "
        f"{MAX_CHARS:,}); past it the answer ends early and says how to continue.",
    ),
]
MaxLineChars = Annotated[
    int,
    msgspec.Meta(
        ge=100,
        le=MAX_CHARS,
        description=f"Longer lines are cut to this many characters (default {DEFAULT_MAX_LINE_CHARS:,}), "
        "marked with how much was cut and how to read the whole line.",
    ),
]
StreamFilter = Annotated[Stream | None, msgspec.Meta(description="Only this stream; all by default.")]
TimeSpec = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=64,
        description="An ISO 8601 time (2024-05-01T12:00:00Z; UTC if no offset) or a duration back "
        "from now (30s, 15m, 2h, 7d, 1h30m).",
    ),
]


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


# Groups --------------------------------------------------------------------------------

GroupName = Annotated[
    str,
    msgspec.Meta(
        pattern=NAME_PATTERN,
        description="Name of the group: letters, digits, '.', '_' and '-', at most 64.",
    ),
]
MAX_GROUP_MEMBERS = 100
"""Twice the default PM_MAX_PROCESSES: room for a large stack, and a bound on one request."""


class GroupMember(ProcessSpec, frozen=True, kw_only=True):
    """A member of a group: an existing process by `name` alone, or declared inline with the
    fields of start_process (`command`, `args`, ...: stored like start_process would, not
    started). Members of the same `order` start together, once every member of a lower order is
    ready; an omitted order is one more than the highest listed before it, so a plain list
    starts one member after the other. `ready` says when the member is ready (running if
    omitted; `exited` for a one-shot step, which must exit with code 0)."""

    order: Annotated[int, msgspec.Meta(ge=0, le=10_000)] | None = None
    ready: ReadyCondition | None = None


GroupMembers = Annotated[list[GroupMember], msgspec.Meta(min_length=1, max_length=MAX_GROUP_MEMBERS)]


class CreateGroup(Request, frozen=True, tag="create_group"):
    """Create a named group: a stack of processes that start_group starts in order (each order
    ready before the next) and stop_group stops together. Members given with a `command` are
    declared in the same call, so one call can declare a whole stack; members given by name
    alone must exist. Returns the group with each member's state."""

    result_type = GroupInfo
    annotations = ToolAnnotations(read_only=False, destructive=False, idempotent=False)

    name: GroupName
    members: Annotated[list[GroupMember], msgspec.Meta(max_length=MAX_GROUP_MEMBERS)] = []
    stop_strategy: Annotated[
        StopStrategy,
        msgspec.Meta(
            description="How stop_group stops it by default: reverse (dependants first), parallel, "
            "sequential (in start order)."
        ),
    ] = "reverse"


class AddToGroup(Request, frozen=True, tag="add_to_group"):
    """Add members to a group, after the ones it has (see create_group for a member's fields).
    Returns the group."""

    result_type = GroupInfo
    annotations = ToolAnnotations(read_only=False, destructive=False, idempotent=False)

    group: GroupName
    members: GroupMembers


class RemoveFromGroup(Request, frozen=True, tag="remove_from_group"):
    """Remove members from a group; the processes themselves are left as they are. Returns the group."""

    result_type = GroupInfo
    annotations = ToolAnnotations(read_only=False, destructive=True, idempotent=False)

    group: GroupName
    members: Annotated[list[ProcessName], msgspec.Meta(min_length=1, max_length=MAX_GROUP_MEMBERS)]


class DeleteGroup(Request, frozen=True, tag="delete_group"):
    """Delete a group. Its members keep running and keep their definitions, unless `stop_members`
    asks to stop them first (the group's stop strategy)."""

    result_type = DeletedGroup
    annotations = ToolAnnotations(read_only=False, destructive=True, idempotent=False)

    group: GroupName
    stop_members: bool = False


class StartGroup(Request, frozen=True, tag="start_group"):
    """Start a group in order: the members of the lowest order together, then the next order once
    every one of them is ready, and so on. Members already active are not started again, only
    waited for. On a member that does not become ready (it ends, times out or cannot start) it
    stops there and says which, why, and its last output lines; what runs is left running unless
    `rollback` asks to stop what this call started. Lists each member with its state and how
    long it took to become ready."""

    result_type = GroupStarted
    annotations = ToolAnnotations(read_only=False, destructive=False, idempotent=False)

    group: GroupName
    rollback: Annotated[
        bool, msgspec.Meta(description="On a failure, stop the members this call started.")
    ] = False


class StopGroup(Request, frozen=True, tag="stop_group"):
    """Stop every member of a group, each the usual way (SIGTERM to its process group, SIGKILL
    after its stop timeout): reverse (dependants first, the highest order first), parallel, or
    sequential (in start order). A start_group under way is cut short. Says how each ended."""

    result_type = GroupStopped
    annotations = ToolAnnotations(read_only=False, destructive=True, idempotent=True)

    group: GroupName
    strategy: Annotated[
        StopStrategy | None, msgspec.Meta(description="The group's stop strategy if omitted.")
    ] = None


class ListGroups(Request, frozen=True, tag="list_groups"):
    """List groups with their members' states and each group's status: running (every member
    up), partly_running, stopped, failed (a member crashed or gave up restarting) or empty."""

    result_type = GroupList
    annotations = READ_ONLY

    group: Annotated[
        Annotated[str, msgspec.Meta(pattern=NAME_PATTERN)] | None,
        msgspec.Meta(description="Only this group; every group by default."),
    ] = None


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


class GetErrors(Request, frozen=True, tag="get_errors"):
    """Errors found in processes' output, newest first: each folded stack trace or error line is
    one error, with its category (port_in_use, module_not_found, ...), how often it happened
    (repeats are counted, not listed), the runs it affected, its trace and the lines before it.
    Use it to answer "why did it crash?" in one call."""

    result_type = ErrorList
    annotations = READ_ONLY

    name: Annotated[
        Annotated[str, msgspec.Meta(pattern=NAME_PATTERN)] | None,
        msgspec.Meta(description="Only this process's errors; all processes by default."),
    ] = None
    category: Annotated[ErrorCategory | None, msgspec.Meta(description="Only this category.")] = None
    resolved: Annotated[
        bool | None,
        msgspec.Meta(description="true: only resolved ones; false: only unresolved; omitted: both."),
    ] = None
    since: Annotated[TimeSpec | None, msgspec.Meta(description="Only errors seen at or after this.")] = None
    limit: ErrorLimit = 10
    after_id: Annotated[
        Annotated[int, msgspec.Meta(ge=1)] | None,
        msgspec.Meta(description="Continue a listing after this error id (its next_after_id)."),
    ] = None


class GetLatestErrors(Request, frozen=True, tag="get_latest_errors"):
    """The unresolved errors, newest first, with counts by category and by process and the
    number of occurrences per hour over the last day: the overview before digging in."""

    result_type = ErrorOverview
    annotations = READ_ONLY

    limit: ErrorLimit = 10


class MarkErrorResolved(Request, frozen=True, tag="mark_error_resolved"):
    """Mark an error resolved, with a note of what fixed it. If the same error happens again
    it is reopened, and it says that it came back after being resolved."""

    result_type = ErrorRecord
    annotations = ToolAnnotations(read_only=False, destructive=False, idempotent=True)

    error_id: Annotated[int, msgspec.Meta(ge=1, description="The error's id, as get_errors shows it.")]
    note: Annotated[
        Annotated[str, msgspec.Meta(max_length=2000, pattern=NO_NUL)] | None,
        msgspec.Meta(description="What fixed it, for whoever sees it next."),
    ] = None


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

GroupRequest = CreateGroup | AddToGroup | RemoveFromGroup | DeleteGroup | StartGroup | StopGroup | ListGroups
"""The requests the GroupActor answers."""

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
