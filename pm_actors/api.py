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

from pm_actors.group_results import DeletedGroup, GroupInfo, GroupList, GroupStarted, GroupStopped
from pm_actors.results import (
    DeletedProcess,
    ErrorCategory,
    ErrorList,
    ErrorOverview,
    ErrorRecord,
    HealthReport,
    LogLines,
    ProcessInfo,
    ProcessList,
    ProcessRecord,
    ProcessStats,
    RestartedProcess,
    SearchResult,
    StartedProcess,
    Stream,
    SystemStats,
    WaitResult,
)
from pm_actors.specs import (
    NAME_PATTERN,
    Backoff,
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

Limit = Annotated[
    int,
    msgspec.Meta(ge=1, le=MAX_LIMIT, description=f"How many items at most (1 to {MAX_LIMIT})."),
]
ErrorLimit = Annotated[int, msgspec.Meta(ge=1, le=1000, description="How many errors at most (1 to 1000).")]
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


class WaitFor(Request, ReadyCondition, frozen=True, tag="wait_for"):
    """Wait until a process is ready, in one call: until it is running, a log line matches
    `pattern` (a regular expression), a TCP `port` is listening, the process is healthy, or it
    has exited (with any code). Returns as soon as it holds, or at the timeout with the newest
    output lines (given too when the process has ended)."""

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
    since: Annotated[
        str | None,
        msgspec.Meta(
            description="Only errors seen since: an ISO 8601 time or a duration ago (30s, 15m, 2h, 1d)."
        ),
    ] = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000, description="How many errors at most (1 to 1000).")] = (
        20
    )
    after_id: Annotated[
        int | None,
        msgspec.Meta(ge=1, description="Continue a listing after this error id (its next_after_id)."),
    ] = None


class GetLatestErrors(Request, frozen=True, tag="get_latest_errors"):
    """The unresolved errors, newest first, with counts by category and by process and the
    number of occurrences per hour over the last day: the overview before digging in."""

    result_type = ErrorOverview
    annotations = READ_ONLY

    limit: Annotated[int, msgspec.Meta(ge=1, le=1000, description="How many errors at most (1 to 1000).")] = (
        10
    )


class MarkErrorResolved(Request, frozen=True, tag="mark_error_resolved"):
    """Mark an error resolved, with a note of what fixed it. If the same error happens again
    it is reopened, and it says that it came back after being resolved."""

    result_type = ErrorRecord
    annotations = ToolAnnotations(read_only=False, destructive=False, idempotent=True)

    error_id: Annotated[int, msgspec.Meta(ge=1, description="The error's id, as get_errors shows it.")]
    note: Annotated[
        str | None, msgspec.Meta(max_length=2000, description="What fixed it, for whoever sees it next.")
    ] = None


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
    | GetErrors
    | GetLatestErrors
    | MarkErrorResolved
)

GroupRequest = CreateGroup | AddToGroup | RemoveFromGroup | DeleteGroup | StartGroup | StopGroup | ListGroups
"""The requests the GroupActor answers."""

REQUEST_TYPES: tuple[type[Request], ...] = typing.get_args(RequestUnion)
"""Every request type, in the order of `RequestUnion` (the order tools are listed in)."""


def tool_name(request_type: type[Request]) -> str:
    """The MCP tool name of a request type: its msgspec tag."""
    return str(request_type.__struct_config__.tag)
