"""The small tree of errors that pm-actors reports to its clients.

Every failure a client can cause or observe is one of these classes. Each carries a stable
`code` from a short fixed list: the IPC layer sends the code and message over the wire, and
the MCP shim turns them into an `isError` result, each in one function. Messages say what
went wrong and what to do next, because the reader is often a model deciding its next step.
"""

from __future__ import annotations

import enum
from typing import ClassVar


class ErrorCode(enum.StrEnum):
    NOT_FOUND = "not_found"
    FORBIDDEN_COMMAND = "forbidden_command"
    INVALID_ARGUMENT = "invalid_argument"
    ALREADY_RUNNING = "already_running"
    NOT_RUNNING = "not_running"
    SPAWN_FAILED = "spawn_failed"
    LIMIT_REACHED = "limit_reached"
    DAEMON_UNAVAILABLE = "daemon_unavailable"
    PROTOCOL_ERROR = "protocol_error"
    UNAUTHORIZED = "unauthorized"
    INTERNAL = "internal"


class PmError(Exception):
    """Base of every error pm-actors reports; `str(error)` is the message for the client."""

    code: ClassVar[ErrorCode] = ErrorCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ProcessNotFound(PmError):
    code = ErrorCode.NOT_FOUND


class ExecutableNotFound(PmError):
    code = ErrorCode.NOT_FOUND


class NotRunning(PmError):
    code = ErrorCode.NOT_RUNNING


class SpawnFailed(PmError):
    code = ErrorCode.SPAWN_FAILED


class ForbiddenCommand(PmError):
    code = ErrorCode.FORBIDDEN_COMMAND


class InvalidArgument(PmError):
    code = ErrorCode.INVALID_ARGUMENT


class AlreadyRunning(PmError):
    code = ErrorCode.ALREADY_RUNNING


class LimitReached(PmError):
    code = ErrorCode.LIMIT_REACHED


class DaemonUnavailable(PmError):
    code = ErrorCode.DAEMON_UNAVAILABLE


class ProtocolError(PmError):
    code = ErrorCode.PROTOCOL_ERROR


class Unauthorized(PmError):
    code = ErrorCode.UNAUTHORIZED


class InternalError(PmError):
    code = ErrorCode.INTERNAL


class RemoteError(PmError):
    """An error the daemon reported over the wire, rebuilt on the client side."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.remote_code = code

    def __str__(self) -> str:
        return self.message


def error_code_of(error: PmError) -> ErrorCode:
    """The wire code of an error, including one that came over the wire."""
    if isinstance(error, RemoteError):
        return error.remote_code
    return error.code
