"""What a client may run, and the environment it runs in.

The executable is looked up (PATH, or a path relative to the working directory), realpath'd,
and must lie under one of the realpath'd allowed roots, compared by path components so that
`/opt2` is not under `/opt`. A symlink whose target escapes the roots is refused. Launchers and
shells are refused even under an allowed root: `env`, `sh` or `setsid` would run anything, or
leave the process group we rely on to stop the whole tree.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from pm_actors.config import Config
from pm_actors.errors import ExecutableNotFound, ForbiddenCommand, InvalidArgument


def resolve_working_directory(cwd: str) -> str:
    path = Path(cwd)
    if not path.is_absolute():
        raise InvalidArgument(f"invalid argument `cwd`: {cwd!r} must be an absolute path")
    if not path.is_dir():
        raise InvalidArgument(f"invalid argument `cwd`: directory {cwd!r} does not exist")
    return str(path)


def resolve_executable(command: str, cwd: str, config: Config) -> str:
    """The path to exec for `command`, checked against the allowlist and the deny-list.

    Returns the path as found (not its realpath): a venv's python must be started through
    its own bin/ link to see its venv, while the check looks at where the link really points.
    """
    found = _find_executable(command, cwd)
    real = Path(os.path.realpath(found))
    if not any(real.is_relative_to(root) for root in config.allowed_commands):
        roots = ", ".join(str(root) for root in config.allowed_commands)
        raise ForbiddenCommand(
            f"command {command!r} resolves to {real}, which is outside the allowed roots ({roots}); "
            "add its directory to PM_ALLOWED_COMMANDS if it should be allowed"
        )
    for name in (Path(found).name, real.name):
        if name in config.denied_commands:
            raise ForbiddenCommand(
                f"command {command!r} ({real}) is a shell or launcher that can run any program, "
                f"so {name!r} is denied (PM_DENIED_COMMANDS); run the program itself instead"
            )
    return found


def _find_executable(command: str, cwd: str) -> str:
    if "/" in command:
        candidate = os.path.normpath(os.path.join(cwd, command))
        if not os.path.isfile(candidate):
            raise ExecutableNotFound(f"executable {command!r} not found (looked at {candidate})")
        if not os.access(candidate, os.X_OK):
            raise ForbiddenCommand(f"{candidate} is not executable (no execute permission)")
        return candidate
    found = shutil.which(command, path=os.environ.get("PATH", os.defpath))
    if found is None:
        raise ExecutableNotFound(
            f"executable {command!r} not found on the daemon's PATH; give its full path instead"
        )
    return os.path.abspath(found)


LOADER_VARIABLE_PREFIXES = ("LD_", "DYLD_")
LOADER_VARIABLES = frozenset({"GCONV_PATH"})
"""Variables that make the dynamic loader (or glibc) load a library of the caller's choosing
into whatever runs: they would turn any allowed executable into a way to run anything."""


def check_environment(overrides: Mapping[str, str]) -> None:
    """Refuse environment variables that would inject code into an allowed executable."""
    for name in sorted(overrides):
        if name.startswith(LOADER_VARIABLE_PREFIXES) or name in LOADER_VARIABLES:
            raise ForbiddenCommand(
                f"environment variable {name} would load code of the caller's choosing into the "
                "process, which would bypass PM_ALLOWED_COMMANDS; it cannot be set through pm-actors"
            )


def child_environment(overrides: Mapping[str, str], base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The daemon's environment minus every PM_* variable (our token among them), with
    unbuffered Python output by default so lines arrive when printed, then `overrides`."""
    source = os.environ if base is None else base
    environment = {key: value for key, value in source.items() if not key.startswith("PM_")}
    environment.setdefault("PYTHONUNBUFFERED", "1")
    environment.update(overrides)
    return environment
