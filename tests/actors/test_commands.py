from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from pm_actors.actors.commands import (
    check_environment,
    child_environment,
    resolve_executable,
    resolve_working_directory,
)
from pm_actors.actors.executables import ExecutablePolicy
from pm_actors.config import Config, load_config
from pm_actors.errors import ExecutableNotFound, ForbiddenCommand, InvalidArgument
from tests.helpers import PYTHON_ROOT


def config_allowing(*roots: str, denied: str | None = None) -> Config:
    environment = {"HOME": "/tmp", "PM_ALLOWED_COMMANDS": ",".join(roots)}
    if denied is not None:
        environment["PM_DENIED_COMMANDS"] = denied
    return load_config(environment)


def policy_allowing(*roots: str, denied: str | None = None) -> ExecutablePolicy:
    return ExecutablePolicy(config_allowing(*roots, denied=denied))


def resolve(command: str, cwd: str, policy: ExecutablePolicy) -> str:
    return resolve_executable(command, cwd, policy, child_environment({}))


def test_an_executable_under_an_allowed_root_is_accepted_by_its_path_as_given() -> None:
    found = resolve(sys.executable, "/", policy_allowing(PYTHON_ROOT))
    assert found == os.path.abspath(sys.executable)


def test_a_command_outside_the_allowed_roots_is_forbidden_and_the_message_says_how_to_allow_it() -> None:
    with pytest.raises(ForbiddenCommand, match="PM_ALLOWED_COMMANDS"):
        resolve(sys.executable, "/", policy_allowing("/usr/local/nowhere"))


def test_a_symlink_inside_an_allowed_root_that_escapes_it_is_forbidden(short_tmp: Path) -> None:
    allowed = short_tmp / "allowed"
    allowed.mkdir()
    (allowed / "python").symlink_to(os.path.realpath(sys.executable))
    with pytest.raises(ForbiddenCommand, match="outside the allowed roots"):
        resolve(str(allowed / "python"), "/", policy_allowing(str(allowed)))


def test_a_sibling_directory_sharing_a_prefix_is_not_under_the_root(short_tmp: Path) -> None:
    (short_tmp / "opt2").mkdir()
    tool = short_tmp / "opt2" / "tool"
    tool.write_text("#!/bin/true\n")
    tool.chmod(0o755)
    (short_tmp / "opt").mkdir()
    with pytest.raises(ForbiddenCommand):
        resolve(str(tool), "/", policy_allowing(str(short_tmp / "opt")))


@pytest.mark.parametrize("launcher", ["env", "sh", "setsid", "nohup", "xargs"])
def test_launchers_and_shells_are_denied_even_under_an_allowed_root(launcher: str) -> None:
    with pytest.raises(ForbiddenCommand, match="denied"):
        resolve(launcher, "/", policy_allowing("/usr/bin", "/bin"))


def test_an_empty_deny_list_allows_launchers_under_allowed_roots() -> None:
    assert resolve("env", "/", policy_allowing("/usr/bin", "/bin", denied="")).endswith("/env")


def test_a_missing_executable_is_reported_as_not_found() -> None:
    with pytest.raises(ExecutableNotFound, match="not found"):
        resolve("no-such-program-pm", "/", policy_allowing("/usr/bin"))


def test_a_relative_command_resolves_against_the_working_directory(short_tmp: Path) -> None:
    tool = short_tmp / "tool"
    tool.write_text("#!/bin/true\n")
    tool.chmod(0o755)
    assert resolve("./tool", str(short_tmp), policy_allowing(str(short_tmp), "/usr/bin")) == str(tool)


def test_a_working_directory_that_does_not_exist_is_an_invalid_argument(short_tmp: Path) -> None:
    with pytest.raises(InvalidArgument, match="does not exist"):
        resolve_working_directory(str(short_tmp / "missing"))


def test_the_child_environment_drops_pm_variables_and_adds_the_overrides() -> None:
    environment = child_environment({"PORT": "8080"}, base={"PM_DAEMON_TOKEN": "secret", "HOME": "/h"})
    assert environment == {"HOME": "/h", "PYTHONUNBUFFERED": "1", "PORT": "8080"}


@pytest.mark.parametrize(
    "name", ["LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "DYLD_INSERT_LIBRARIES", "GCONV_PATH"]
)
def test_variables_that_load_code_into_an_allowed_executable_are_forbidden(name: str) -> None:
    with pytest.raises(ForbiddenCommand, match=name):
        check_environment({"PORT": "8080", name: "/tmp/evil.so"})


def test_ordinary_variables_are_allowed() -> None:
    check_environment({"PORT": "8080", "NODE_ENV": "development", "PATH": "/usr/bin"})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("NODE_OPTIONS", "--max-old-space-size=4096 --enable-source-maps"),
        ("PYTHONWARNINGS", "ignore,error::DeprecationWarning"),
        ("PYTHONPATH", "src"),
        ("PERL5LIB", "/home/me/perl5/lib/perl5"),
    ],
)
def test_variables_that_only_tune_an_interpreter_are_allowed(name: str, value: str) -> None:
    check_environment({name: value})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("NODE_OPTIONS", "--max-old-space-size=4096 -r ./evil.js"),
        ("NODE_OPTIONS", '--loader "data:text/javascript,1"'),
        ("PYTHONWARNINGS", "ignore::antigravity.Warning"),
        ("EDITOR", "touch /tmp/pwned;"),
        ("GIT_SSH_COMMAND", "touch /tmp/pwned"),
        ("RUBYOPT", "-r./evil"),
    ],
)
def test_variables_that_run_code_are_refused_by_value_where_the_value_decides(name: str, value: str) -> None:
    with pytest.raises(ForbiddenCommand, match=name):
        check_environment({name: value})
