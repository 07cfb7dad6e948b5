"""The project file, `pm-actors.toml`: a stack of processes declared once, brought up in order.

```toml
name = "shop"                      # the group `up` creates; default: the directory's name
stop_strategy = "reverse"

[settings]                         # PM_* settings for up/down; the environment wins
PM_ALLOWED_COMMANDS = "/usr/bin,/usr/local/bin,/home/me/.venv/bin"

[processes.db]                     # the fields of start_process, plus order and ready
command = "/usr/bin/postgres"
args = ["-D", "data"]
ready = { until = "port", port = 5432 }

[processes.api]
command = "/home/me/.venv/bin/python"
args = ["-m", "uvicorn", "app:app"]
ready = { until = "log_line", pattern = "Application startup complete" }
```

Each process is decoded by the very struct a group member is (`api.GroupMember`: the fields of
`start_process` with `order` and `ready`), so the file accepts exactly what the tools accept.
A relative `cwd` is relative to the file. A bad file is one message naming the file, the line,
the key and what is allowed.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Final

import msgspec

from pm_actors.config import ConfigError, setting_names
from pm_actors.group_requests import GroupMember
from pm_actors.request_base import split_validation_error
from pm_actors.results import ProcessInfo
from pm_actors.specs import NAME_PATTERN, CommandCheck, HealthCheck, StopStrategy

FILE_NAME: Final = "pm-actors.toml"
TOP_LEVEL_KEYS: Final = frozenset({"name", "stop_strategy", "settings", "processes"})


class Project(msgspec.Struct, frozen=True, kw_only=True):
    """A decoded project file: its group name, stop strategy, settings and members in file order."""

    path: Path
    name: str
    stop_strategy: StopStrategy
    settings: dict[str, str]
    members: list[GroupMember]


def find_project_file(given: str | None, working_directory: Path) -> Path:
    path = Path(given) if given else working_directory / FILE_NAME
    path = path if path.is_absolute() else working_directory / path
    if not path.is_file():
        raise ConfigError(
            f"no project file at {path}: create {FILE_NAME} here (README, 'Project file') or give one with -f"
        )
    return path


def load_project(path: Path) -> Project:
    """Read and check a project file; ConfigError with the line and the key when it is wrong."""
    text = path.read_text(encoding="utf-8")
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    unknown = sorted(set(document) - TOP_LEVEL_KEYS)
    if unknown:
        raise file_problem(
            path, text, [unknown[0]], f"unknown key; allowed: {', '.join(sorted(TOP_LEVEL_KEYS))}"
        )
    name = document.get("name", path.parent.name)
    if not isinstance(name, str) or not re.match(NAME_PATTERN, name):
        raise file_problem(
            path, text, ["name"], "expected a name of letters, digits, '.', '_' and '-', at most 64"
        )
    strategy = document.get("stop_strategy", "reverse")
    if strategy not in ("reverse", "parallel", "sequential"):
        raise file_problem(path, text, ["stop_strategy"], "expected reverse, parallel or sequential")
    return Project(
        path=path,
        name=name,
        stop_strategy=strategy,
        settings=settings_table(path, text, document.get("settings", {})),
        members=_members(path, text, document.get("processes", {})),
    )


def settings_table(path: Path, text: str, table: Any) -> dict[str, str]:
    """The `[settings]` table of a TOML file: PM_* variables, as the environment would give them."""
    if not isinstance(table, dict):
        raise file_problem(path, text, ["settings"], "expected a table of PM_* settings")
    settings = {}
    known = setting_names()
    for key, value in table.items():
        if key not in known:
            raise file_problem(path, text, ["settings", key], f"unknown setting; known: {', '.join(known)}")
        if isinstance(value, bool):
            value = str(value).lower()
        elif isinstance(value, list):
            value = ",".join(str(item) for item in value)
        settings[key] = str(value)
    return settings


def _members(path: Path, text: str, table: Any) -> list[GroupMember]:
    if not isinstance(table, dict) or not table:
        raise file_problem(path, text, ["processes"], "expected one [processes.NAME] table per process")
    members = []
    for name, fields in table.items():
        if not isinstance(fields, dict):
            raise file_problem(path, text, ["processes", name], "expected a table of start_process fields")
        try:
            member = msgspec.convert({**fields, "name": name}, GroupMember)
        except msgspec.ValidationError as error:
            key, problem = _located(str(error))
            raise file_problem(path, text, ["processes", name, *key], problem) from None
        if member.command is None:
            raise file_problem(path, text, ["processes", name], "expected a command (the executable to run)")
        members.append(msgspec.structs.replace(member, cwd=_anchored(member.cwd, path.parent)))
    return members


def _anchored(cwd: str | None, directory: Path) -> str:
    """A process runs in the file's directory unless its cwd says otherwise (relative to it)."""
    if not cwd:
        return str(directory)
    return os.path.join(directory, os.path.expanduser(cwd))


def _located(message: str) -> tuple[list[str], str]:
    """msgspec's `Expected int - at $.backoff.initial_s` as (["backoff", "initial_s"], "expected int")."""
    kind, where, problem = split_validation_error(message)
    if kind == "invalid":
        return [key for key in re.split(r"[.\[\]]", where) if key], problem[:1].lower() + problem[1:]
    if kind == "unknown":
        return [where], "unknown key; see start_process for the fields a process takes"
    if kind == "missing":
        return [where], "this key is required"
    return [], message


def file_problem(path: Path, text: str, keys: list[str], problem: str) -> ConfigError:
    line = _line_of(text, keys)
    where = f"{path}:{line}" if line else str(path)
    return ConfigError(f"{where}: {'.'.join(keys)}: {problem}")


def _line_of(text: str, keys: list[str]) -> int | None:
    """The line that sets `keys` (a dotted key path) in TOML text: the deepest key found, within
    the table the path leads to; good enough to point a person at the right place."""
    lines = text.splitlines()
    best: int | None = None
    table: list[str] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.split("#", 1)[0].strip()
        header = re.match(r"^\[+\s*([^\]]+?)\s*\]+$", line)
        if header:
            table = [part.strip().strip('"') for part in header[1].split(".")]
            if table == keys[: len(table)] and (best is None or len(table) > 0):
                best = number
            continue
        key = re.match(r"^([\w\-\"]+)\s*=", line)
        inside = key is not None and table == keys[: len(table)] and len(keys) > len(table)
        if key is not None and inside and key[1].strip('"') == keys[len(table)]:
            return number
    return best


def changed_fields(member: GroupMember, stored: ProcessInfo) -> list[str]:
    """What the file declares differently from the stored definition of a process, by field.
    A field the file leaves to a daemon default (restart, limits) counts only when given."""
    changed = [
        field
        for field in ("command", "args", "env", "max_restarts", "backoff", "stop_timeout_s")
        if getattr(member, field) != getattr(stored, field)
    ]
    if str(Path(member.cwd or "")) != stored.cwd:
        changed.append("cwd")
    if member.restart is not None and member.restart != stored.restart:
        changed.append("restart")
    if member.limits is not None and member.limits != stored.limits:
        changed.append("limits")
    if not _same_check(member.health_check, stored.health_check):
        changed.append("health_check")
    return changed


def _same_check(declared: HealthCheck | None, stored: HealthCheck | None) -> bool:
    """A stored command check names its executable resolved; the file names it as written."""
    if isinstance(declared, CommandCheck) and isinstance(stored, CommandCheck):
        import shutil  # here only: the daemon imports this module, and shutil costs it ~0.6 MB

        found = shutil.which(declared.command) or declared.command
        resolved = msgspec.structs.replace(declared, command=os.path.realpath(found))
        return resolved == msgspec.structs.replace(stored, command=os.path.realpath(stored.command))
    return declared == stored
