"""MCP resources: the daemon's live state as JSON documents, read through the tools' own requests.

One registry: `RESOURCES` for fixed URIs, `PROCESS_RESOURCES` for one document per process
(`process://{name}`, also listed for every managed process and offered as templates). Each
entry says what it shows, how it is read (the same request structs the tools send, so the
shapes are the tools' output schemas) and which daemon topics announce that it changed, which
is all a subscription needs. Adding a resource is adding one entry.

`logs://recent` and the template `logs://{name}` share a scheme: a fixed URI wins, so the
output of a process named `recent` is read with `tail_logs` (and the errors of one named
`latest` with `get_errors`).
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import mcp_types as types
import msgspec

from pm_actors.api import GetProcessInfo, GetProcessStats, GetSystemStats, ListProcesses, TailLogs, Topic
from pm_actors.error_requests import GetErrors, GetLatestErrors
from pm_actors.errors import PmError
from pm_actors.ipc.session import ClientSession
from pm_actors.results import ProcessInfo, ProcessList, ProcessStats
from pm_actors.specs import NAME_PATTERN

from .failures import protocol_error, resource_not_found

JSON_MIME_TYPE = "application/json"

RECENT_LINES_PER_PROCESS = 20
"""logs://recent: enough of each process to see what it is doing, few enough that fifty
processes still make a document a model can read."""

PROCESS_LOG_LINES = 100
"""logs://{name}: the newest lines of one process, as tail_logs gives by default."""

LATEST_ERRORS = 10
PROCESS_ERRORS = 20
"""errors://latest and errors://{name}: enough errors to see what goes wrong, each with its
trace, few enough to read."""

Reader = Callable[[ClientSession], Awaitable[object]]
NamedReader = Callable[[ClientSession, str], Awaitable[object]]
_NAME = re.compile(NAME_PATTERN)


@dataclass(frozen=True)
class FixedResource:
    """A resource at one URI."""

    uri: str
    title: str
    description: str
    read: Reader
    topics: frozenset[Topic]
    """Daemon topics whose change changes this document."""


@dataclass(frozen=True)
class ProcessResource:
    """A document per process: `<scheme>://<name>`."""

    scheme: str
    title: str
    description: str
    read: NamedReader
    topics: Callable[[str], frozenset[Topic]]

    @property
    def template(self) -> str:
        return f"{self.scheme}://{{name}}"

    def uri(self, name: str) -> str:
        return f"{self.scheme}://{name}"

    def name_in(self, uri: str) -> str | None:
        """The process named by `uri` if it is one of ours, else None."""
        name = uri.removeprefix(f"{self.scheme}://")
        return name if name != uri and _NAME.match(name) else None


# Readers ------------------------------------------------------------------------------------


async def _processes(backend: ClientSession) -> ProcessList:
    listing: ProcessList = await backend.call(ListProcesses())
    return listing


async def _gather(calls: Sequence[Awaitable[Any]]) -> list[Any]:
    """Results of concurrent calls; one that failed because its process ended or went meanwhile
    is None (the document shows what exists), anything else fails the read."""
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException) and not isinstance(outcome, PmError):
            raise outcome
    return [None if isinstance(outcome, PmError) else outcome for outcome in outcomes]


async def recent_logs(backend: ClientSession) -> dict[str, Any]:
    records = (await _processes(backend)).processes
    tails = await _gather(
        [backend.call(TailLogs(name=record.name, limit=RECENT_LINES_PER_PROCESS)) for record in records]
    )
    return {
        "processes": [
            {"name": record.name, "state": record.state, "lines": tail.lines}
            for record, tail in zip(records, tails, strict=True)
            if tail is not None
        ]
    }


async def health_status(backend: ClientSession) -> dict[str, Any]:
    records = (await _processes(backend)).processes
    infos: list[ProcessInfo | None] = await _gather(
        [backend.call(GetProcessInfo(name=record.name)) for record in records]
    )
    return {
        "processes": [
            {
                "name": info.name,
                "state": info.state,
                "health": info.health,
                "health_check": info.health_check,
                "last_check": info.last_health_check,
                "restarts": info.restarts,
            }
            for info in infos
            if info is not None
        ]
    }


async def metrics_summary(backend: ClientSession) -> dict[str, Any]:
    system, records = await asyncio.gather(backend.call(GetSystemStats()), _processes(backend))
    running = [record.name for record in records.processes if record.pid is not None]
    stats: list[ProcessStats | None] = await _gather([backend.call(GetProcessStats(name=n)) for n in running])
    return {"system": system, "processes": [entry for entry in stats if entry is not None]}


# The registry -------------------------------------------------------------------------------

RESOURCES: tuple[FixedResource, ...] = (
    FixedResource(
        "processes://list",
        "Processes",
        "Every managed process: state, pid, restarts, last exit, health (as list_processes).",
        _processes,
        frozenset({Topic("state"), Topic("processes")}),
    ),
    FixedResource(
        "logs://recent",
        "Recent output",
        f"The newest {RECENT_LINES_PER_PROCESS} output lines of every managed process.",
        recent_logs,
        frozenset({Topic("output"), Topic("processes")}),
    ),
    FixedResource(
        "errors://latest",
        "Latest errors",
        f"The {LATEST_ERRORS} newest unresolved errors with their traces, counts by category and by "
        "process, and occurrences per hour over the last day (as get_latest_errors).",
        lambda backend: backend.call(GetLatestErrors(limit=LATEST_ERRORS)),
        frozenset({Topic("errors"), Topic("processes")}),
    ),
    FixedResource(
        "health://status",
        "Health",
        "Health of every process: its check, the last outcome, and restarts.",
        health_status,
        frozenset({Topic("state"), Topic("processes")}),
    ),
    FixedResource(
        "metrics://summary",
        "Resource use",
        "CPU, memory and load of the machine, and of every running process with its children. "
        "Sampled when read; a change is announced when a process starts or ends.",
        metrics_summary,
        frozenset({Topic("state"), Topic("processes")}),
    ),
)

PROCESS_RESOURCES: tuple[ProcessResource, ...] = (
    ProcessResource(
        "process",
        "Process",
        "Everything about one process (as get_process_info): state, runs, health, settings.",
        lambda backend, name: backend.call(GetProcessInfo(name=name)),
        lambda name: frozenset({Topic("state", name)}),
    ),
    ProcessResource(
        "logs",
        "Process output",
        f"The newest {PROCESS_LOG_LINES} output lines of one process (as tail_logs).",
        lambda backend, name: backend.call(TailLogs(name=name, limit=PROCESS_LOG_LINES)),
        lambda name: frozenset({Topic("output", name)}),
    ),
    ProcessResource(
        "errors",
        "Process errors",
        f"The {PROCESS_ERRORS} most recent errors of one process, resolved or not, each counted "
        "with its trace (as get_errors).",
        lambda backend, name: backend.call(GetErrors(name=name, limit=PROCESS_ERRORS)),
        lambda name: frozenset({Topic("errors", name)}),
    ),
)

_FIXED_BY_URI: Mapping[str, FixedResource] = {resource.uri: resource for resource in RESOURCES}


def _resolve(uri: str) -> tuple[FixedResource | ProcessResource, str] | None:
    """The registry entry that serves `uri`, with the process it names ("" for a fixed one)."""
    fixed = _FIXED_BY_URI.get(uri)
    if fixed is not None:
        return fixed, ""
    for resource in PROCESS_RESOURCES:
        name = resource.name_in(uri)
        if name is not None:
            return resource, name
    return None


def reader_of(uri: str) -> Reader | None:
    """How to read `uri`, or None if it names nothing we serve."""
    match _resolve(uri):
        case (FixedResource() as fixed, _):
            return fixed.read
        case (ProcessResource() as resource, name):
            return functools.partial(_read_named, resource.read, name)
    return None


async def _read_named(read: NamedReader, name: str, backend: ClientSession) -> object:
    return await read(backend, name)


def topics_of(uri: str) -> frozenset[Topic]:
    """The daemon topics that announce a change of `uri` (none for a URI we do not serve)."""
    match _resolve(uri):
        case (FixedResource() as fixed, _):
            return fixed.topics
        case (ProcessResource() as resource, name):
            return resource.topics(name)
    return frozenset()


# MCP handlers ----------------------------------------------------------------------------------


def _listed(uri: str, title: str, description: str) -> types.Resource:
    return types.Resource(uri=uri, name=uri, title=title, description=description, mime_type=JSON_MIME_TYPE)


async def list_resources(backend: ClientSession) -> types.ListResourcesResult:
    """The fixed resources, and the per-process ones of every managed process. If the daemon
    cannot be reached the fixed ones are still listed: reading them reports why."""
    listed = [_listed(resource.uri, resource.title, resource.description) for resource in RESOURCES]
    try:
        names = [record.name for record in (await _processes(backend)).processes]
    except PmError:
        return types.ListResourcesResult(resources=listed)
    for name in names:
        for resource in PROCESS_RESOURCES:
            listed.append(_listed(resource.uri(name), f"{resource.title} {name}", resource.description))
    return types.ListResourcesResult(resources=listed)


def list_templates() -> types.ListResourceTemplatesResult:
    return types.ListResourceTemplatesResult(
        resource_templates=[
            types.ResourceTemplate(
                uri_template=resource.template,
                name=resource.template,
                title=resource.title,
                description=resource.description,
                mime_type=JSON_MIME_TYPE,
            )
            for resource in PROCESS_RESOURCES
        ]
    )


async def read_resource(backend: ClientSession, uri: str) -> types.ReadResourceResult:
    """One document as JSON text; a URI we do not serve, or a process that does not exist, is
    `Resource not found` (-32602) with the URI in `data`."""
    reader = reader_of(uri)
    if reader is None:
        raise resource_not_found(uri)
    try:
        document = await reader(backend)
    except Exception as error:  # the edge of a resource read: every failure becomes a protocol error
        raise protocol_error(error, uri) from None
    text = msgspec.json.encode(document).decode()
    return types.ReadResourceResult(
        contents=[types.TextResourceContents(uri=uri, mime_type=JSON_MIME_TYPE, text=text)]
    )
