"""MCP prompts: a task for the model, filled with live facts about the processes it concerns.

One registry (`PROMPTS`): each entry has its name, title, description, declared arguments and
the function that writes it from evidence gathered just now (`evidence.py`), within the size
budget of `briefing.py`. Adding a prompt is adding one entry.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import mcp_types as types
from mcp.shared.exceptions import MCPError

from pm_actors.api import ListProcesses
from pm_actors.ipc.session import ClientSession
from pm_actors.results import ProcessList
from pm_actors.specs import NAME_PATTERN

from .briefing import Section, briefing
from .evidence import member_evidence, process_evidence, usage_evidence
from .failures import protocol_error

Writer = Callable[[ClientSession, Mapping[str, str]], Awaitable[str]]
_NAME = re.compile(NAME_PATTERN)

PROCESS_ARGUMENT = types.PromptArgument(
    name="name", description="Name of the managed process (list_processes shows them).", required=True
)
OPTIONAL_PROCESS_ARGUMENT = types.PromptArgument(
    name="name", description="Name of one managed process; every running process if omitted.", required=False
)
MEMBERS_ARGUMENT = types.PromptArgument(
    name="processes",
    description="Comma-separated names of the processes that work together; all managed ones if omitted.",
    required=False,
)


@dataclass(frozen=True)
class PromptEntry:
    name: str
    title: str
    description: str
    arguments: tuple[types.PromptArgument, ...]
    write: Writer


def _process_name(arguments: Mapping[str, str], required: bool) -> str | None:
    name = (arguments.get("name") or "").strip()
    if not name:
        if required:
            raise MCPError(types.INVALID_PARAMS, "missing argument `name`: the process to look at")
        return None
    if not _NAME.match(name):
        raise MCPError(types.INVALID_PARAMS, f"invalid argument `name`: {name!r} is not a process name")
    return name


async def debug_process(backend: ClientSession, arguments: Mapping[str, str]) -> str:
    name = _process_name(arguments, required=True) or ""
    info, sections = await process_evidence(backend, name)
    return briefing(
        f"Debug the process `{name}`",
        f"`{name}` is {info.state.value}. Find out why it behaves as it does, starting from the "
        "evidence below (gathered just now), fix the cause if you can, and say what you found.",
        sections,
        [
            f'search_logs {{"name": "{name}", "query": "..."}} for a message, then get_logs with '
            "after_id just before a match to read around it",
            f'restart_process {{"name": "{name}"}} after a fix, then wait_for {{"until": "log_line"}} or '
            '{"until": "port"} to know it is ready, instead of polling',
            f'get_process_info {{"name": "{name}"}} for every setting and the runs in full',
        ],
    )


async def optimize_performance(backend: ClientSession, arguments: Mapping[str, str]) -> str:
    name = _process_name(arguments, required=False)
    subject = f"`{name}`" if name else "the running processes"
    return briefing(
        f"Optimize the performance of {subject}",
        f"Find what limits the performance of {subject}: CPU, memory, restarts, or the machine "
        "itself. Use the measurements below (taken just now), then suggest or make changes.",
        await usage_evidence(backend, name),
        [
            "get_process_stats again after a change, to compare with these figures",
            'configure_process {"limits": {"max_memory_mb": ..., "max_cpu_percent": ...}} to watch a '
            "process's use, with enforce_memory to restart it when it stays above",
            "search_logs for slow requests, timeouts or garbage collection messages",
        ],
    )


async def setup_monitoring(backend: ClientSession, arguments: Mapping[str, str]) -> str:
    name = _process_name(arguments, required=True) or ""
    info, sections = await process_evidence(backend, name)
    ports = info.listening_ports
    check = f'{{"type": "tcp", "port": {ports[0]}}}' if ports else '{"type": "command", "command": ...}'
    return briefing(
        f"Set up monitoring for `{name}`",
        f"Decide how pm-actors should watch `{name}`: a health check that proves it works, resource "
        "limits, and a restart policy. Start from its current settings and behaviour below.",
        sections,
        [
            f'configure_process {{"name": "{name}", "health_check": {check}}} (or an http check of a '
            "status URL), with interval_ms and failure_threshold",
            f'configure_process {{"name": "{name}", "restart": "on-failure", "limits": {{...}}}}',
            f'check_process_health {{"name": "{name}"}} to try the check at once',
        ],
    )


async def troubleshoot_group(backend: ClientSession, arguments: Mapping[str, str]) -> str:
    wanted = [part.strip() for part in (arguments.get("processes") or "").split(",") if part.strip()]
    listing: ProcessList = await backend.call(ListProcesses())
    by_name = {record.name: record for record in listing.processes}
    members = [by_name[name] for name in wanted if name in by_name] if wanted else listing.processes
    lines: list[str] = []
    for record in members:
        lines.extend(await member_evidence(backend, record))
    missing = [name for name in wanted if name not in by_name]
    sections = [Section("Members (stderr shown for those not running or unhealthy)", lines, "tail_logs")]
    if missing:
        sections.append(Section("Not managed", [", ".join(missing)]))
    return briefing(
        "Troubleshoot processes that work together",
        "These processes depend on each other. Find the first one that failed (the others often "
        "fail because of it), using the states and error output below, and restore them in order.",
        sections,
        [
            "debug_process on the first member that failed, for its full evidence",
            "start or restart dependencies first; wait_for each one to be ready before the next",
            "search_logs across all processes (no name) for connection errors between them",
        ],
    )


PROMPTS: tuple[PromptEntry, ...] = (
    PromptEntry(
        "debug_process",
        "Debug a process",
        "Investigate why a process crashed, restarts or misbehaves, from its state, runs and latest output.",
        (PROCESS_ARGUMENT,),
        debug_process,
    ),
    PromptEntry(
        "optimize_performance",
        "Optimize performance",
        "Find what limits a process (or every running one): CPU, memory, restarts, the machine.",
        (OPTIONAL_PROCESS_ARGUMENT,),
        optimize_performance,
    ),
    PromptEntry(
        "setup_monitoring",
        "Set up monitoring",
        "Choose a health check, resource limits and a restart policy for a process.",
        (PROCESS_ARGUMENT,),
        setup_monitoring,
    ),
    PromptEntry(
        "troubleshoot_group",
        "Troubleshoot a group",
        "Find which of several processes that work together failed first, and restore them in order.",
        (MEMBERS_ARGUMENT,),
        troubleshoot_group,
    ),
)

_BY_NAME = {entry.name: entry for entry in PROMPTS}


def list_prompts() -> types.ListPromptsResult:
    return types.ListPromptsResult(
        prompts=[
            types.Prompt(
                name=entry.name,
                title=entry.title,
                description=entry.description,
                arguments=list(entry.arguments),
            )
            for entry in PROMPTS
        ]
    )


async def get_prompt(
    backend: ClientSession, name: str, arguments: Mapping[str, str] | None
) -> types.GetPromptResult:
    entry = _BY_NAME.get(name)
    if entry is None:
        raise MCPError(types.INVALID_PARAMS, f"Unknown prompt: {name}; prompts/list names them", data=name)
    try:
        text = await entry.write(backend, arguments or {})
    except Exception as error:  # the edge of a prompt: every failure becomes a protocol error
        raise protocol_error(error) from None
    return types.GetPromptResult(
        description=entry.description,
        messages=[types.PromptMessage(role="user", content=types.TextContent(type="text", text=text))],
    )
