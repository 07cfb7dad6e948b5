"""Process states and the one table of allowed transitions.

Dependency-free on purpose (as supervisor's `states.py`): the API types, the actors and the
tests all import it, and nothing here can import them back.
"""

from __future__ import annotations

import enum


class ProcessState(enum.StrEnum):
    STARTING = "starting"
    """A spawn was asked for and has not returned yet."""
    RUNNING = "running"
    """The exec succeeded: Popen returned a live child."""
    STOPPING = "stopping"
    """A stop was asked for and its signal sent; the child has not ended yet."""
    STOPPED = "stopped"
    """It ended because it was asked to (or it has never run)."""
    EXITED = "exited"
    """It ended on its own with exit code 0."""
    CRASHED = "crashed"
    """It ended on its own with a non-zero code or a signal, or could not be spawned."""
    BACKOFF = "backoff"
    """Waiting to be restarted."""
    FATAL = "fatal"
    """Restarting was given up; the reason is recorded."""


class Health(enum.StrEnum):
    UNKNOWN = "unknown"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


ENDED_STATES = frozenset(
    {ProcessState.STOPPED, ProcessState.EXITED, ProcessState.CRASHED, ProcessState.FATAL}
)
"""States in which no child is alive and none is scheduled: a new start may replace it."""

ACTIVE_STATES = frozenset(
    {ProcessState.STARTING, ProcessState.RUNNING, ProcessState.STOPPING, ProcessState.BACKOFF}
)
"""States in which a child is alive or about to be: the definition may not be replaced."""

ALLOWED_TRANSITIONS: dict[ProcessState, frozenset[ProcessState]] = {
    ProcessState.STOPPED: frozenset({ProcessState.STARTING, ProcessState.BACKOFF, ProcessState.FATAL}),
    ProcessState.EXITED: frozenset({ProcessState.STARTING, ProcessState.BACKOFF, ProcessState.FATAL}),
    ProcessState.CRASHED: frozenset({ProcessState.STARTING, ProcessState.BACKOFF, ProcessState.FATAL}),
    ProcessState.FATAL: frozenset({ProcessState.STARTING}),
    ProcessState.STARTING: frozenset({ProcessState.RUNNING, ProcessState.CRASHED}),
    ProcessState.RUNNING: frozenset(
        {ProcessState.STOPPING, ProcessState.STOPPED, ProcessState.EXITED, ProcessState.CRASHED}
    ),
    ProcessState.STOPPING: frozenset({ProcessState.STOPPED}),
    ProcessState.BACKOFF: frozenset({ProcessState.STARTING, ProcessState.STOPPED, ProcessState.FATAL}),
}
"""Every edge a process may take. RUNNING -> STOPPED is the edge of a signal sent by
`kill_process` that ended the child without a stop having been asked for; STOPPED -> BACKOFF
or FATAL follows a run stopped because it was unhealthy, which restarts with backoff."""


class IllegalTransition(Exception):
    """A transition outside `ALLOWED_TRANSITIONS`: a bug in the caller, reported, never asserted."""

    def __init__(self, name: str, current: ProcessState, target: ProcessState) -> None:
        super().__init__(f"process {name!r}: illegal transition {current.value} -> {target.value}")


def check_transition(name: str, current: ProcessState, target: ProcessState) -> None:
    if target not in ALLOWED_TRANSITIONS[current]:
        raise IllegalTransition(name, current, target)
