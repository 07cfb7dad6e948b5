"""Completions: the names of managed processes, for prompt arguments and resource templates.

A client asks as a person types an argument; the answer is every name that starts with what
was typed (case-insensitive), in the list's order. A comma-separated argument
(`troubleshoot_group`'s `processes`) completes its last name. A reference or argument that
takes no name completes to nothing, as completion is advisory. `NAME_SOURCES` says which
arguments take names and where the names come from: group names, when groups land, are
entries with a source that lists groups.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

import mcp_types as types

from pm_actors.api import ListProcesses
from pm_actors.ipc.session import ClientSession
from pm_actors.results import ProcessList

from .prompts import PROMPTS
from .resources import PROCESS_RESOURCES

MAX_VALUES = 100
"""The MCP limit on values in one completion answer."""

NameSource = Callable[[ClientSession], Awaitable[list[str]]]


async def process_names(backend: ClientSession) -> list[str]:
    listing: ProcessList = await backend.call(ListProcesses())
    return [record.name for record in listing.processes]


NAME_SOURCES: Mapping[tuple[str, str], NameSource] = {
    **{
        ("ref/prompt", f"{entry.name}:{argument.name}"): process_names
        for entry in PROMPTS
        for argument in entry.arguments
    },
    **{("ref/resource", f"{resource.template}:name"): process_names for resource in PROCESS_RESOURCES},
}
"""(reference kind, `<prompt or template>:<argument>`) of every argument that takes names, and
where its names come from."""

LIST_ARGUMENTS = frozenset({"processes"})
"""Arguments holding comma-separated names."""


def _key(params: types.CompleteRequestParams) -> tuple[str, str]:
    ref = params.ref
    target = ref.name if isinstance(ref, types.PromptReference) else ref.uri
    return ref.type, f"{target}:{params.argument.name}"


async def complete(backend: ClientSession, params: types.CompleteRequestParams) -> types.CompleteResult:
    source = NAME_SOURCES.get(_key(params))
    if source is None:
        return types.CompleteResult(completion=types.Completion(values=[], total=0, has_more=False))
    typed = params.argument.value
    earlier, _, partial = typed.rpartition(",") if params.argument.name in LIST_ARGUMENTS else ("", "", typed)
    prefix = partial.strip().lower()
    chosen = {part.strip() for part in earlier.split(",")}
    names = [name for name in await source(backend) if name.lower().startswith(prefix) and name not in chosen]
    lead = f"{earlier}," if earlier else ""
    values = [lead + name for name in names[:MAX_VALUES]]
    return types.CompleteResult(
        completion=types.Completion(values=values, total=len(names), has_more=len(names) > MAX_VALUES)
    )
