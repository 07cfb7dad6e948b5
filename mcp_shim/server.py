"""The MCP server: tools, resources, prompts, completions and logging over one backend.

The shim holds no data of its own. A tool call is decoded into its request struct, handed to
the client session (`ipc.session.ClientSession`, which fills in the caller's working directory
and reaches the daemon over its socket, or the in-process actors), and the result struct is
returned as structured content plus its text summary. Resources and prompts read through the
same requests (`resources.py`, `prompts.py`); what the shim keeps is per client: its
subscriptions and log level (`peers.py`, `subscriptions.py`, `client_log.py`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import warnings
from collections.abc import AsyncIterator, Mapping
from typing import Any

import mcp_types as types
import msgspec
from mcp.server import Server, ServerRequestContext
from mcp.server.caching import CacheableMethod, CacheHint
from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.models import InitializationOptions
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError

from pm_actors import __version__
from pm_actors.api import RequestUnion, tool_name
from pm_actors.ipc.session import ClientSession

from . import completions, prompts, resources
from .client_log import ClientLog
from .failures import error_result, protocol_error
from .peers import Peers
from .progress import with_progress
from .subscriptions import Subscriptions
from .tools import decode_arguments, tool_input_schema, tool_list

logger = logging.getLogger(__name__)

SERVER_NAME = "pm-actors"

INSTRUCTIONS = """\
pm-actors starts, stops and watches local processes; their output is stored and searchable.
- Address processes by name, never by pid: a restart gives a new pid.
- To know when a process is ready or done, call wait_for (a log line, a port, healthy, exited) \
instead of polling list_processes or get_logs.
- To find something in the output, search_logs first, then read around a match with get_logs \
(after_id) or the newest lines with tail_logs; do not page through everything.
- To learn why a process crashed, call get_errors (name): each error once, counted, with its trace; \
after a fix, mark_error_resolved tells you if it comes back.
- A failed call starts with a stable code (not_found, forbidden_command, ...) and says what to do next.
- The prompts debug_process, optimize_performance, setup_monitoring and troubleshoot_group \
start from live evidence; resources (processes://list, process://{name}, logs://{name}, ...) \
show the same data as JSON and announce changes to subscribers."""
"""What a client gives the model about this server: how to use the tools well, in a few lines."""

STATIC_TTL_MS = 600_000
"""Tools, prompts and templates change only when pm-actors is upgraded: ten minutes of caching
saves a client the lists on every turn, and an upgrade is seen soon after."""

CACHE_HINTS: Mapping[CacheableMethod, CacheHint] = {
    "tools/list": CacheHint(ttl_ms=STATIC_TTL_MS, scope="public"),
    "prompts/list": CacheHint(ttl_ms=STATIC_TTL_MS, scope="public"),
    "resources/templates/list": CacheHint(ttl_ms=STATIC_TTL_MS, scope="public"),
    "server/discover": CacheHint(ttl_ms=STATIC_TTL_MS, scope="public"),
    "resources/list": CacheHint(ttl_ms=0, scope="private"),
    "resources/read": CacheHint(ttl_ms=0, scope="private"),
}
"""2026-07-28 cache hints: the lists are the same for every caller (public); the resources
are live state of this machine (stale at once, private)."""


class PmServer(Server[Any]):
    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        """Announces `resources.listChanged` on every transport: the HTTP session manager asks
        for the options without any, and processes do come and go."""
        return super().create_initialization_options(
            notification_options or NotificationOptions(resources_changed=True),
            experimental_capabilities,
            extensions,
        )


class Handlers:
    """The request handlers that read through the backend, each `(ctx, params) -> result`."""

    def __init__(self, backend: ClientSession) -> None:
        self._backend = backend

    async def call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        return await call_tool_result(self._backend, params.name, params.arguments, ctx)

    async def list_resources(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        return await resources.list_resources(self._backend)

    async def read_resource(
        self, ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        return await resources.read_resource(self._backend, params.uri)

    async def get_prompt(
        self, ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        return await prompts.get_prompt(self._backend, params.name, params.arguments)

    async def complete(
        self, ctx: ServerRequestContext[Any], params: types.CompleteRequestParams
    ) -> types.CompleteResult:
        try:
            return await completions.complete(self._backend, params)
        except Exception as error:  # the edge of a completion: every failure becomes a protocol error
            raise protocol_error(error) from None


def build_server(backend: ClientSession) -> PmServer:
    """An MCP server whose every answer comes through `backend`."""
    peers = Peers()
    client_log = ClientLog(peers)
    subscriptions = Subscriptions(backend, peers)
    handlers = Handlers(backend)

    @contextlib.asynccontextmanager
    async def lifespan(server: Server[Any]) -> AsyncIterator[dict[str, Any]]:
        async with client_log.forwarding(), subscriptions.running():
            yield {}

    with warnings.catch_warnings():
        # logging/setLevel is gone from 2026-07-28 but part of 2025-11-25, which we serve too.
        warnings.simplefilter("ignore", MCPDeprecationWarning)
        server = PmServer(
            SERVER_NAME,
            version=__version__,
            title="pm-actors",
            instructions=INSTRUCTIONS,
            cache_hints=CACHE_HINTS,
            lifespan=lifespan,
            get_tool_input_schema=tool_input_schema,
            on_list_tools=_list_tools,
            on_call_tool=handlers.call_tool,
            on_list_resources=handlers.list_resources,
            on_list_resource_templates=_constant(resources.list_templates()),
            on_read_resource=handlers.read_resource,
            on_subscribe_resource=subscriptions.subscribe,
            on_unsubscribe_resource=subscriptions.unsubscribe,
            on_subscriptions_listen=subscriptions.listen,
            on_list_prompts=_constant(prompts.list_prompts()),
            on_get_prompt=handlers.get_prompt,
            on_completion=handlers.complete,
            on_set_logging_level=client_log.set_level,
        )
    server.middleware.append(peers.middleware)
    return server


async def _list_tools(ctx: ServerRequestContext[Any], params: Any) -> types.ListToolsResult:
    return _tools_result()


@functools.cache
def _tools_result() -> types.ListToolsResult:
    """Built on the first tools/list (see `tool_list`), then the same answer every time."""
    return types.ListToolsResult(tools=list(tool_list()))


def _constant(result: Any) -> Any:
    """A handler that always answers `result` (built once: these lists never change)."""

    async def handler(ctx: ServerRequestContext[Any], params: Any) -> Any:
        return result

    return handler


async def call_tool_result(
    backend: ClientSession,
    name: str,
    arguments: dict[str, Any] | None,
    ctx: ServerRequestContext[Any],
) -> types.CallToolResult:
    """Carry out one tool call; raises only `MCPError` (an unknown tool is a protocol error)."""
    try:
        request = decode_arguments(name, arguments)
        result = await with_progress(ctx.session, request, backend.call(request))
        _check_result_type(request, result)
    except MCPError:
        raise
    except Exception as error:  # the top-level edge: every tool failure becomes an isError result
        return error_result(error)
    return success_result(result)


def _check_result_type(request: RequestUnion, result: object) -> None:
    """A backend answering with the wrong struct would break the declared output schema."""
    expected = type(request).result_type
    if not isinstance(result, expected):
        raise TypeError(
            f"backend answered {tool_name(type(request))} with {type(result).__name__}, "
            f"expected {expected.__name__}"
        )


def success_result(result: Any) -> types.CallToolResult:
    """The result struct as structured content (it matches the output schema by construction)
    and its summary as text, for clients that show only text to the model."""
    summary: str = result.summary()
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=summary)],
        structured_content=msgspec.to_builtins(result),
        is_error=False,
    )
