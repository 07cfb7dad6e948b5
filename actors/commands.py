"""What a client may run, and the environment it runs in.

The executable is looked up (PATH, or a path relative to the working directory) and checked
by `executables.ExecutablePolicy`: its realpath must be an allowed executable or lie under an
allowed directory, and it must not be a shell, launcher or command runner, by name or content.
The environment a client adds must not make a loader, shell or interpreter run code of its
choosing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pm_actors.actors.executables import ExecutablePolicy, on_path
from pm_actors.errors import ExecutableNotFound, ForbiddenCommand, InvalidArgument


def resolve_working_directory(cwd: str) -> str:
    path = Path(cwd)
    if not path.is_absolute():
        raise InvalidArgument(f"invalid argument `cwd`: {cwd!r} must be an absolute path")
    if not path.is_dir():
        raise InvalidArgument(f"invalid argument `cwd`: directory {cwd!r} does not exist")
    return str(path)


def resolve_executable(
    command: str, cwd: str, policy: ExecutablePolicy, environment: Mapping[str, str]
) -> str:
    """The path to exec for `command`, checked now (a request is refused at once, precisely) by
    `policy`, which checks it again at every spawn. `environment` is the child's, whose PATH
    finds the interpreter of a `#!/usr/bin/env NAME` script.

    Returns the path as found (not its realpath): a venv's python must be started through
    its own bin/ link to see its venv, while the check looks at where the link really points.
    """
    found = _find_executable(command, cwd)
    policy.check(found, command, environment.get("PATH", os.defpath))
    return found


def _find_executable(command: str, cwd: str) -> str:
    if "/" in command:
        candidate = os.path.normpath(os.path.join(cwd, command))
        if not os.path.isfile(candidate):
            raise ExecutableNotFound(f"executable {command!r} not found (looked at {candidate})")
        if not os.access(candidate, os.X_OK):
            raise ForbiddenCommand(f"{candidate} is not executable (no execute permission)")
        return candidate
    found = on_path(command, os.environ.get("PATH", os.defpath))
    if found is None:
        raise ExecutableNotFound(
            f"executable {command!r} not found on the daemon's PATH; give its full path instead"
        )
    return os.path.abspath(found)


LOADS_A_LIBRARY = "makes the dynamic loader or glibc load a library of the caller's choosing into the program"
STARTS_A_SHELL_WITH_CODE = (
    "makes a shell run code of the caller's choosing as it starts (and any program that calls "
    "system() or popen() starts one)"
)
RUNS_INTERPRETER_CODE = "makes an interpreter run code of the caller's choosing before its own program"
NAMES_A_COMMAND = (
    "names a command that programs run (an editor, pager, browser, password prompt or shell), "
    "which PM_ALLOWED_COMMANDS never checks"
)
CONFIGURES_GIT_COMMANDS = "makes git run commands of the caller's choosing (config, ssh, pager, editor)"

REFUSED_VARIABLES: dict[str, str] = {
    "GCONV_PATH": LOADS_A_LIBRARY,
    "BASH_ENV": STARTS_A_SHELL_WITH_CODE,
    "ENV": STARTS_A_SHELL_WITH_CODE,
    "SHELLOPTS": STARTS_A_SHELL_WITH_CODE,
    "BASHOPTS": STARTS_A_SHELL_WITH_CODE,
    "PS4": STARTS_A_SHELL_WITH_CODE,
    "PROMPT_COMMAND": STARTS_A_SHELL_WITH_CODE,
    "ZDOTDIR": STARTS_A_SHELL_WITH_CODE,
    "PERL5OPT": RUNS_INTERPRETER_CODE,
    "PERL5DB": RUNS_INTERPRETER_CODE,
    "RUBYOPT": RUNS_INTERPRETER_CODE,
    "PYTHONSTARTUP": RUNS_INTERPRETER_CODE,
    "EDITOR": NAMES_A_COMMAND,
    "VISUAL": NAMES_A_COMMAND,
    "PAGER": NAMES_A_COMMAND,
    "MANPAGER": NAMES_A_COMMAND,
    "BROWSER": NAMES_A_COMMAND,
    "LESSOPEN": NAMES_A_COMMAND,
    "LESSCLOSE": NAMES_A_COMMAND,
    "SSH_ASKPASS": NAMES_A_COMMAND,
    "SUDO_ASKPASS": NAMES_A_COMMAND,
    "SHELL": NAMES_A_COMMAND,
    "GIT_SSH": CONFIGURES_GIT_COMMANDS,
    "GIT_SSH_COMMAND": CONFIGURES_GIT_COMMANDS,
    "GIT_EXTERNAL_DIFF": CONFIGURES_GIT_COMMANDS,
    "GIT_PAGER": CONFIGURES_GIT_COMMANDS,
    "GIT_EDITOR": CONFIGURES_GIT_COMMANDS,
    "GIT_SEQUENCE_EDITOR": CONFIGURES_GIT_COMMANDS,
    "GIT_ASKPASS": CONFIGURES_GIT_COMMANDS,
    "GIT_PROXY_COMMAND": CONFIGURES_GIT_COMMANDS,
    "GIT_EXEC_PATH": CONFIGURES_GIT_COMMANDS,
    "GIT_TEMPLATE_DIR": CONFIGURES_GIT_COMMANDS,
}
"""Variables a client may not set, and why. Such a variable turns an allowed program (or a
program it runs: a shell behind system(), git behind a build tool) into a way to run anything,
so allowing it would undo PM_ALLOWED_COMMANDS. Left allowed on purpose: PATH, PYTHONPATH,
NODE_PATH, PERL5LIB, RUBYLIB and the like, which choose where existing files are found (a
process that can write files in an allowed place can run them anyway), and variables that a
build tool pastes into its own commands (CC, CFLAGS, MAKEFLAGS: too many to list, see README).
The daemon's own environment passes through unchecked: the person who started it chose it."""
REFUSED_PREFIXES: dict[str, str] = {
    "LD_": LOADS_A_LIBRARY,
    "DYLD_": LOADS_A_LIBRARY,
    "BASH_FUNC_": STARTS_A_SHELL_WITH_CODE,
    "GIT_CONFIG": CONFIGURES_GIT_COMMANDS,
}
"""Families refused by prefix: loader settings, functions bash imports from the environment,
and git configuration passed in variables (GIT_CONFIG_COUNT / _KEY_n / _VALUE_n, ...)."""
NODE_CODE_OPTIONS = ("--require", "--import", "--loader", "--experimental-loader")
"""NODE_OPTIONS that load a module before the program: with a `data:` URL, code in the value itself."""


def check_environment(overrides: Mapping[str, str]) -> None:
    """Refuse environment variables that would make the process run code of the caller's choosing."""
    for name in sorted(overrides):
        reason = refused_because(name, overrides[name])
        if reason is not None:
            raise ForbiddenCommand(
                f"environment variable {name} {reason}, which would bypass PM_ALLOWED_COMMANDS; "
                "it cannot be set through pm-actors (set it in the daemon's own environment if you mean it)"
            )


def refused_because(name: str, value: str) -> str | None:
    """Why `name=value` may not be set by a client, or None if it may."""
    reason = REFUSED_VARIABLES.get(name)
    if reason is not None:
        return reason
    for prefix, because in REFUSED_PREFIXES.items():
        if name.startswith(prefix):
            return because
    if name == "NODE_OPTIONS" and any(_loads_node_code(option) for option in value.replace('"', " ").split()):
        return f"holds an option that loads code ({', '.join(('-r', *NODE_CODE_OPTIONS))})"
    if name == "PYTHONWARNINGS" and any(_imports_a_module(entry) for entry in value.split(",")):
        return "names a warning category in a module, which Python imports (and so runs)"
    return None


def _loads_node_code(option: str) -> bool:
    return option.partition("=")[0] in NODE_CODE_OPTIONS or (
        option.startswith("-r") and not option.startswith("--")
    )


def _imports_a_module(entry: str) -> bool:
    """action:message:category:module:lineno; a dotted category is imported from its module."""
    fields = entry.split(":")
    return len(fields) > 2 and "." in fields[2]


def child_environment(overrides: Mapping[str, str], base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The daemon's environment minus every PM_* variable (our token among them), with
    unbuffered Python output by default so lines arrive when printed, then `overrides`."""
    source = os.environ if base is None else base
    environment = {key: value for key, value in source.items() if not key.startswith("PM_")}
    environment.setdefault("PYTHONUNBUFFERED", "1")
    environment.update(overrides)
    return environment
