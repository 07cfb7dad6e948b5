"""The small tree of errors that pm-actors reports to its clients.

Every failure a client can cause or observe is one of these classes. Each carries a stable
`code` from a short fixed list: the IPC layer sends the code and message over the wire, the
client rebuilds the class of that code (`error_from_wire`), so `except NotFound` works the same
whether the actors run in a daemon or in-process, and the MCP shim turns any of them into an
`isError` result, each in one function. Messages say what
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
    ALREADY_EXISTS = "already_exists"
    NOT_RUNNING = "not_running"
    SPAWN_FAILED = "spawn_failed"
    LIMIT_REACHED = "limit_reached"
    RATE_LIMITED = "rate_limited"
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


class NotFound(PmError):
    code = ErrorCode.NOT_FOUND


class ProcessNotFound(NotFound):
    pass


class ExecutableNotFound(NotFound):
    pass


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


class AlreadyExists(PmError):
    code = ErrorCode.ALREADY_EXISTS


class LimitReached(PmError):
    code = ErrorCode.LIMIT_REACHED


class BudgetExceeded(LimitReached):
    """A read ran past its time budget (PM_QUERY_TIMEOUT_MS) and was stopped inside SQLite."""


class RateLimited(PmError):
    """A client called one tool faster than PM_RATE_LIMIT allows; the message says when to retry."""

    code = ErrorCode.RATE_LIMITED


class DaemonUnavailable(PmError):
    code = ErrorCode.DAEMON_UNAVAILABLE


class ProtocolError(PmError):
    code = ErrorCode.PROTOCOL_ERROR


class Unauthorized(PmError):
    code = ErrorCode.UNAUTHORIZED


class InternalError(PmError):
    code = ErrorCode.INTERNAL


WIRE_CLASSES: dict[ErrorCode, type[PmError]] = {
    ErrorCode.NOT_FOUND: NotFound,
    ErrorCode.FORBIDDEN_COMMAND: ForbiddenCommand,
    ErrorCode.INVALID_ARGUMENT: InvalidArgument,
    ErrorCode.ALREADY_RUNNING: AlreadyRunning,
    ErrorCode.ALREADY_EXISTS: AlreadyExists,
    ErrorCode.NOT_RUNNING: NotRunning,
    ErrorCode.SPAWN_FAILED: SpawnFailed,
    ErrorCode.LIMIT_REACHED: LimitReached,
    ErrorCode.RATE_LIMITED: RateLimited,
    ErrorCode.DAEMON_UNAVAILABLE: DaemonUnavailable,
    ErrorCode.PROTOCOL_ERROR: ProtocolError,
    ErrorCode.UNAUTHORIZED: Unauthorized,
    ErrorCode.INTERNAL: InternalError,
}
"""The class a client raises for each wire code: the most general class with that code."""


def error_from_wire(code: str, message: str) -> PmError:
    """The error a daemon reported, rebuilt as our own class. A code this client does not know
    (sent by a newer daemon) is an internal error that keeps the code in its message."""
    try:
        return WIRE_CLASSES[ErrorCode(code)](message)
    except ValueError:
        return InternalError(f"{code}: {message}")
