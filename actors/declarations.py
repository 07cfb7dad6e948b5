"""From what a client declares (`start_process`, a group member given inline) to a definition
the daemon may run: the executable resolved under an allowed root, the working directory
existing, the environment safe, a command health check allowed like the process itself.

Checked in the supervisor's thread before any actor changes, so a refused declaration leaves
nothing behind.
"""

from __future__ import annotations

import msgspec

from pm_actors.actors.commands import (
    check_environment,
    child_environment,
    resolve_executable,
    resolve_working_directory,
)
from pm_actors.actors.definition_changes import default_restart
from pm_actors.actors.executables import ExecutablePolicy
from pm_actors.config import Config
from pm_actors.definition import ProcessDefinition
from pm_actors.errors import InvalidArgument
from pm_actors.specs import CommandCheck, HealthCheck, ProcessSpec


def declared_definition(
    spec: ProcessSpec, command: str, config: Config, policy: ExecutablePolicy
) -> ProcessDefinition:
    """The definition `spec` declares with `command`, once everything it names is allowed."""
    if spec.cwd is None:
        raise InvalidArgument(
            "invalid argument `cwd`: the client must give the working directory (the MCP shim "
            "and the CLI fill in their own); the daemon never guesses it"
        )
    cwd = resolve_working_directory(spec.cwd)
    check_environment(spec.env)
    return ProcessDefinition.of(
        spec,
        command=command,
        executable=resolve_executable(command, cwd, policy, child_environment(spec.env)),
        cwd=cwd,
        health_check=allowed_check(spec.health_check, cwd, policy),
        default_restart=default_restart(config),
    )


def allowed_check(check: HealthCheck | None, cwd: str, policy: ExecutablePolicy) -> HealthCheck | None:
    """A command check runs under the same rules as the process: resolved and allowed now (and
    checked again at every run of the check)."""
    if not isinstance(check, CommandCheck):
        return check
    command = resolve_executable(check.command, cwd, policy, child_environment({}))
    return msgspec.structs.replace(check, command=command)


def check_uses_stored(spec: ProcessSpec, what: str) -> None:
    """A spec without a command uses the stored definition as it is: any other field is refused,
    since it would be silently ignored."""
    given = spec.definition_fields_given()
    if given:
        raise InvalidArgument(
            f"invalid argument `{given[0]}`: {what} uses the stored definition as it is; give "
            "`command` too to declare a new definition, or use configure_process / restart_process"
        )
