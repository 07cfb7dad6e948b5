"""A refused executable's message gives advice that works: real shims, venvs and binaries, the
advice followed, and the check it leads to passing (never a weaker check)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pm_actors.actors.command_advice import installed_interpreters, version_manager
from pm_actors.actors.commands import child_environment, resolve_executable
from pm_actors.actors.executables import ExecutablePolicy
from pm_actors.config import load_config
from pm_actors.errors import ForbiddenCommand

TRUE = "/usr/bin/true"
PYENV_SHIM = """#!/usr/bin/env bash
set -e
program="${0##*/}"
exec "$PYENV_ROOT/libexec/pyenv" exec "$program" "$@"
"""
"""What pyenv writes into `~/.pyenv/shims/python3` (shortened): a bash script."""


def policy(*roots: str | Path) -> ExecutablePolicy:
    return ExecutablePolicy(load_config({"HOME": "/tmp", "PM_ALLOWED_COMMANDS": ",".join(map(str, roots))}))


def refusal(allowed: ExecutablePolicy, path: str | Path) -> str:
    with pytest.raises(ForbiddenCommand) as refused:
        allowed.check(str(path), Path(path).name, "/usr/bin:/bin")
    return refused.value.message


@pytest.fixture
def pyenv(short_tmp: Path) -> Path:
    """A pyenv root: a shim for python3 and two installed versions (links to the real python)."""
    root = short_tmp / ".pyenv"
    (root / "shims").mkdir(parents=True)
    shim = root / "shims" / "python3"
    shim.write_text(PYENV_SHIM)
    shim.chmod(0o755)
    for version in ("3.9.18", "3.12.1"):
        bin_dir = root / "versions" / version / "bin"
        bin_dir.mkdir(parents=True)
        (bin_dir / "python3").symlink_to(os.path.realpath(sys.executable))
    return root


@pytest.fixture
def elsewhere(short_tmp: Path) -> Path:
    """An allowed directory that holds none of the programs under test."""
    directory = short_tmp / "allowed"
    directory.mkdir()
    return directory


@pytest.mark.timeout(30)
def test_a_bare_python3_that_is_a_pyenv_shim_is_refused_with_how_to_name_the_real_interpreter(
    pyenv: Path, elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", f"{pyenv / 'shims'}:/usr/bin:/bin")
    with pytest.raises(ForbiddenCommand) as refused:
        resolve_executable("python3", "/", policy(elsewhere, "/usr/bin"), child_environment({}))
    message = refused.value.message
    shim = pyenv / "shims" / "python3"
    assert f"command {shim} resolves to {shim}, which is outside the allowed roots" in message
    assert f"{shim} is a pyenv shim run by bash" in message
    assert "shells are denied, so allowing its directory cannot help" in message
    assert "`pyenv which python3` prints it" in message
    newest, oldest = (pyenv / "versions" / v / "bin" / "python3" for v in ("3.12.1", "3.9.18"))
    assert f"installed here: {newest}, {oldest})" in message
    assert "or use the project's .venv/bin/python3" in message
    assert 'which `dirname "$(realpath "$(pyenv which python3)")"` prints' in message
    assert f"PM_ALLOWED_COMMANDS={elsewhere},/usr/bin,DIRECTORY" in message


@pytest.mark.timeout(30)
def test_with_the_shims_directory_allowed_the_denied_bash_refusal_gives_the_same_advice(
    pyenv: Path, elsewhere: Path
) -> None:
    shims = pyenv / "shims"
    message = refusal(policy(shims, "/usr/bin"), shims / "python3")
    assert "'bash' is denied (PM_DENIED_COMMANDS)" in message
    assert "is a pyenv shim run by bash" in message
    assert "`pyenv which python3` prints it" in message
    assert "name this executable in PM_ALLOWED_COMMANDS" not in message, "allowing bash is no advice"


@pytest.mark.timeout(30)
def test_following_the_shim_advice_the_real_interpreter_is_allowed(pyenv: Path, elsewhere: Path) -> None:
    real_interpreter = pyenv / "versions" / "3.12.1" / "bin" / "python3"
    directory = os.path.dirname(os.path.realpath(real_interpreter))
    policy(elsewhere, "/usr/bin", directory).check(str(real_interpreter), "python3", "/usr/bin:/bin")
    with pytest.raises(ForbiddenCommand, match="outside the allowed roots"):
        policy(elsewhere, real_interpreter.parent).check(str(real_interpreter), "python3", "/usr/bin")


@pytest.mark.timeout(60)
def test_a_venv_python_is_refused_naming_its_real_path_and_the_exact_setting_that_allows_it(
    short_tmp: Path, elsewhere: Path
) -> None:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(short_tmp / "venv")], check=True)
    venv_python = short_tmp / "venv" / "bin" / "python"
    real = os.path.realpath(venv_python)
    message = refusal(policy(elsewhere), venv_python)
    assert f"command {venv_python} resolves to {real}, which is outside the allowed roots" in message
    assert f"PM_ALLOWED_COMMANDS={elsewhere},{os.path.dirname(real)} in the environment" in message
    assert f"keep {venv_python} as the command: it still runs as itself" in message

    allowed = policy(elsewhere, os.path.dirname(real))
    with allowed.plan(str(venv_python), str(venv_python), "/usr/bin") as plan:
        ran = subprocess.run(
            [*plan.argv, "-c", "import sys; print(sys.prefix)"],
            executable=plan.exec_path,
            pass_fds=(plan.descriptor,),
            capture_output=True,
            text=True,
            check=True,
        )
    assert ran.stdout.strip() == str(short_tmp / "venv"), "the venv's python runs in its venv"


@pytest.mark.timeout(30)
def test_a_binary_outside_the_roots_is_refused_with_its_directory_or_the_file_alone(
    short_tmp: Path, elsewhere: Path
) -> None:
    tools = short_tmp / "tools"
    tools.mkdir()
    shutil.copy(TRUE, tools / "tool")
    message = refusal(policy(elsewhere), tools / "tool")
    assert f"add its directory, PM_ALLOWED_COMMANDS={elsewhere},{tools} in the environment" in message
    assert f"(or the file alone: PM_ALLOWED_COMMANDS={elsewhere},{tools / 'tool'})" in message
    policy(elsewhere, tools).check(str(tools / "tool"), "tool", "/usr/bin")
    policy(elsewhere, tools / "tool").check(str(tools / "tool"), "tool", "/usr/bin")


@pytest.mark.timeout(30)
def test_a_script_outside_the_roots_is_told_apart_by_its_interpreter(
    short_tmp: Path, elsewhere: Path
) -> None:
    scripts = short_tmp / "scripts"
    scripts.mkdir()
    for name, text in (("run.sh", "#!/bin/sh\necho hi\n"), ("job.py", f"#!{sys.executable}\nprint(1)\n")):
        (scripts / name).write_text(text)
        (scripts / name).chmod(0o755)
    shell = refusal(policy(elsewhere), scripts / "run.sh")
    assert "is a shell script (run by sh), and shells are denied" in shell
    assert "give that interpreter's absolute path as the command" in shell
    python = refusal(policy(elsewhere), scripts / "job.py")
    assert f"start the interpreter itself with {scripts / 'job.py'} as its first argument" in python


def test_version_managers_are_known_by_their_shims_directory(short_tmp: Path) -> None:
    assert version_manager("/home/u/.pyenv/shims/python3") == "pyenv"
    assert version_manager("/home/u/.asdf/shims/node") == "asdf"
    assert version_manager("/home/u/.local/share/mise/shims/python") == "mise"
    assert version_manager("/home/u/.rbenv/shims/ruby") == "rbenv"
    assert version_manager("/usr/bin/python3") is None
    assert installed_interpreters("/usr/bin/python3") == []
    assert installed_interpreters(str(short_tmp / "shims" / "python3")) == []
