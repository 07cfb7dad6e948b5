"""Changing a stored process definition: pure functions, so that what a request changes is
decided (and tested) apart from the actor that applies it."""

from __future__ import annotations

from typing import Any

import msgspec

from pm_actors.api import ConfigureProcess, RestartProcess
from pm_actors.config import Config
from pm_actors.definition import ProcessDefinition
from pm_actors.specs import Limits, RestartPolicy

SUPERVISION_FIELDS = ("restart", "max_restarts", "backoff", "health_check", "limits", "stop_timeout_s")
DEFINITION_SETTINGS = ("args", "env", *SUPERVISION_FIELDS)
"""What a definition sets beside its name, command and working directory."""


def with_restart_changes(
    definition: ProcessDefinition, request: RestartProcess
) -> tuple[ProcessDefinition, list[str]]:
    """The definition with the new args or env of a restart, and the names of what changed."""
    updates: dict[str, Any] = {}
    if request.args is not None and request.args != definition.args:
        updates["args"] = list(request.args)
    if request.env is not None and request.env != definition.env:
        updates["env"] = dict(request.env)
    return msgspec.structs.replace(definition, **updates), sorted(updates)


def with_configuration(
    definition: ProcessDefinition, request: ConfigureProcess
) -> tuple[ProcessDefinition, list[str]]:
    """The definition with the supervision settings the request gives (omitted ones kept), and
    the names of those whose value really changed."""
    given = {field: value for field in SUPERVISION_FIELDS if (value := getattr(request, field)) is not None}
    if request.remove_health_check:
        given["health_check"] = None
    updates = {field: value for field, value in given.items() if value != getattr(definition, field)}
    return msgspec.structs.replace(definition, **updates), sorted(updates)


def default_restart(config: Config) -> RestartPolicy:
    """The restart policy of a definition that names none: PM_AUTO_RESTART_ENABLED decides."""
    return "on-failure" if config.auto_restart_enabled else "never"


def dropped_settings(old: ProcessDefinition, new: ProcessDefinition, config: Config) -> list[str]:
    """What `new`, replacing `old`, left at its default although `old` had set it: settings a
    start with a new command would otherwise lose without a word."""
    defaults = ProcessDefinition(
        name=new.name,
        command=new.command,
        executable=new.executable,
        args=[],
        cwd=new.cwd,
        restart=default_restart(config),
    )
    return [
        field
        for field in DEFINITION_SETTINGS
        if getattr(old, field) != getattr(defaults, field) and getattr(new, field) == getattr(defaults, field)
    ]


def effective_limits(definition: ProcessDefinition, config: Config) -> Limits:
    """The process's own limits, or the global PM_MAX_MEMORY_MB / PM_MAX_CPU_PERCENT."""
    return definition.limits or Limits(
        max_memory_mb=config.max_memory_mb, max_cpu_percent=config.max_cpu_percent
    )
