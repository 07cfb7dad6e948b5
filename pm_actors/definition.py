"""Definitions: what is stored of a process so that it can be started again, and of a group.

`start_process` (or a group member given inline) declares a process; the supervisor builds its
definition once, with `ProcessDefinition.of`, after resolving and checking what the request
names (the executable, a command health check, the working directory). The store keeps it, a
restarted daemon starts from it, and `restart_process` / `configure_process` change it through
pure functions. A `GroupDefinition` names its members and when each is ready.
"""

from __future__ import annotations

import msgspec

from pm_actors.specs import (
    Backoff,
    HealthCheck,
    Limits,
    ProcessSpec,
    ReadyCondition,
    RestartPolicy,
    StopStrategy,
)


class ProcessDefinition(msgspec.Struct, frozen=True, kw_only=True):
    """What is stored of a process so a restarted daemon can start it again."""

    name: str
    command: str
    executable: str
    args: list[str]
    cwd: str
    env: dict[str, str] = {}
    stop_timeout_s: float = 10.0
    restart: RestartPolicy = "never"
    max_restarts: int = 10
    backoff: Backoff = msgspec.field(default_factory=Backoff)
    health_check: HealthCheck | None = None
    """With the command of a command check already resolved and allowed."""
    limits: Limits | None = None
    """None: the global PM_MAX_MEMORY_MB / PM_MAX_CPU_PERCENT apply."""
    stdin: bool = False
    """Runs get a pipe to their standard input (send_input); otherwise /dev/null."""
    restore: bool | None = None
    """None: as the restart policy says (see `restart_policy.restores`)."""

    @classmethod
    def of(
        cls,
        request: ProcessSpec,
        *,
        command: str,
        executable: str,
        cwd: str,
        health_check: HealthCheck | None,
        default_restart: RestartPolicy,
    ) -> ProcessDefinition:
        """The definition a `start_process` request (or an inline group member) declares, with
        what the caller checked: the `command` it gives, resolved to `executable`, the existing
        `cwd`, the allowed `health_check`."""
        return cls(
            name=request.name,
            command=command,
            executable=executable,
            args=list(request.args),
            cwd=cwd,
            env=dict(request.env),
            stop_timeout_s=request.stop_timeout_s,
            restart=request.restart or default_restart,
            max_restarts=request.max_restarts,
            backoff=request.backoff,
            health_check=health_check,
            limits=request.limits,
            stdin=request.stdin,
            restore=request.restore,
        )


class MemberDefinition(msgspec.Struct, frozen=True, kw_only=True):
    """A member of a group: which process, in which start order, ready when."""

    name: str
    order: int
    ready: ReadyCondition


class GroupDefinition(msgspec.Struct, frozen=True, kw_only=True):
    """What is stored of a group: its members in the order they were listed."""

    name: str
    stop_strategy: StopStrategy = "reverse"
    members: list[MemberDefinition] = []
