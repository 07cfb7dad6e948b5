"""Every failure translated once, where our errors meet the MCP client.

A tool that failed is an `isError` result with the reason (the model reads it and decides);
a resource read or a prompt that failed is a JSON-RPC error, since those have no result type
that can carry one. Our own errors keep their stable code and message; any other exception is a
bug, logged here with its traceback and reported as `internal` without it.
"""

from __future__ import annotations

import logging

import mcp_types as types
from mcp.shared.exceptions import MCPError

from pm_actors.errors import ErrorCode, NotFound, PmError

logger = logging.getLogger(__name__)

ERROR_META_KEY = "pm-actors/error"
"""Where an error result carries its code and message for programs: `_meta`, not
`structuredContent`, because the TypeScript SDK validates structured content against the
tool's output schema even on an error result, and an error object would fail that."""

INTERNAL_ERROR_MESSAGE = (
    "pm-actors failed unexpectedly while handling this call; the details are in the log of "
    "`pm-actors mcp` (its stderr). Retrying may work; if it keeps failing, report it."
)


def code_and_message(error: Exception) -> tuple[ErrorCode, str]:
    """Our error's code and message; any other exception is logged with its traceback."""
    if isinstance(error, PmError):
        logger.debug("call failed: %s: %s", error.code, error.message)
        return error.code, error.message
    logger.error("call failed unexpectedly", exc_info=error)
    return ErrorCode.INTERNAL, INTERNAL_ERROR_MESSAGE


def error_result(error: Exception) -> types.CallToolResult:
    """The one translation of a failed tool call into what the client sees."""
    code, message = code_and_message(error)
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=f"{code}: {message}")],
        is_error=True,
        _meta={ERROR_META_KEY: {"code": str(code), "message": message}},
    )


def resource_not_found(uri: str, reason: str | None = None) -> MCPError:
    """-32602 with the URI in `data`: what SEP-2164 settles on for every protocol revision."""
    message = f"Resource not found: {reason}" if reason else f"Resource not found: {uri}"
    return MCPError(code=types.INVALID_PARAMS, message=message, data={"uri": uri})


def protocol_error(error: Exception, uri: str | None = None) -> MCPError:
    """A failed resource read, prompt or completion as a JSON-RPC error: a process that does not
    exist is the caller's mistake (invalid params), anything else the server's."""
    if isinstance(error, MCPError):
        return error
    code, message = code_and_message(error)
    if isinstance(error, NotFound):
        return resource_not_found(uri, message) if uri else MCPError(types.INVALID_PARAMS, message)
    return MCPError(code=types.INTERNAL_ERROR, message=f"{code}: {message}")
