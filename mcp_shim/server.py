"""The MCP server: lists the tools, forwards each call to a backend, translates every error once.

The shim holds no state of its own. A call is decoded into its request struct, handed to the
client session (`ipc.session.ClientSession`, which fills in the caller's working directory and
reaches the daemon over its socket, or the in-process actors), and the result struct returned
as structured content plus its text summary. Every failure of a tool becomes an
`isError` result in `error_result`, the one place where our errors meet the client.
"""

from __future__ import annotations

import logging
from typing import Any

import mcp_types as types
import msgspec
from mcp.server import Server, ServerRequestContext
from mcp.shared.exceptions import MCPError

from pm_actors import __version__
from pm_actors.api import RequestUnion, tool_name
from pm_actors.errors import ErrorCode, PmError
from pm_actors.ipc.session import ClientSession

from .tools import TOOLS, decode_arguments, tool_input_schema

logger = logging.getLogger(__name__)

SERVER_NAME = "pm-actors"

ERROR_META_KEY = "pm-actors/error"
"""Where an error result carries its code and message for programs: `_meta`, not
`structuredContent`, because the TypeScript SDK validates structured content against the
tool's output schema even on an error result, and an error object would fail that."""

INTERNAL_ERROR_MESSAGE = (
    "pm-actors failed unexpectedly while handling this call; the details are in the log of "
    "`pm-actors mcp` (its stderr). Retrying may work; if it keeps failing, report it."
)


def build_server(backend: ClientSession) -> Server[Any]:
    """An MCP server whose tools all go to `backend` (a `ClientSession` in the shim)."""
    tools = list(TOOLS)

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        return await call_tool_result(backend, params.name, params.arguments)

    return Server(
        SERVER_NAME,
        version=__version__,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        get_tool_input_schema=tool_input_schema,
    )


async def call_tool_result(
    backend: ClientSession, name: str, arguments: dict[str, Any] | None
) -> types.CallToolResult:
    """Carry out one tool call; raises only `MCPError` (an unknown tool is a protocol error)."""
    try:
        request = decode_arguments(name, arguments)
        result = await backend.call(request)
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


def error_result(error: Exception) -> types.CallToolResult:
    """The one translation of a failed tool call into what the client sees.

    Our own errors keep their stable code and their message, which says what to do next. Any
    other exception is a bug: logged with its traceback here, reported to the client as
    `internal` with a short message, never the traceback.
    """
    if isinstance(error, PmError):
        code, message = error.code, error.message
        logger.debug("tool call failed: %s: %s", code, message)
    else:
        logger.error("tool call failed unexpectedly", exc_info=error)
        code, message = ErrorCode.INTERNAL, INTERNAL_ERROR_MESSAGE
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=f"{code}: {message}")],
        is_error=True,
        _meta={ERROR_META_KEY: {"code": str(code), "message": message}},
    )
