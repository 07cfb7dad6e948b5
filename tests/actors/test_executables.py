"""The executable policy on real files: what is opened is what is checked, and what is run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pm_actors.actors.executables import ExecutablePolicy, env_program, parse_shebang
from pm_actors.config import load_config
from pm_actors.errors import ExecutableNotFound, ForbiddenCommand
from tests.helpers import PYTHON, PYTHON_ROOT

TRUE = "/usr/bin/true"
DASH = "/usr/bin/dash"


def policy(*roots: str | Path, denied: str | None = None) -> ExecutablePolicy:
    environment = {"HOME": "/tmp", "PM_ALLOWED_COMMANDS": ",".join(map(str, roots))}
    if denied is not None:
        environment["PM_DENIED_COMMANDS"] = denied
    return ExecutablePolicy(load_config(environment))


def script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


@pytest.fixture
def bin_dir(short_tmp: Path) -> Path:
    directory = short_tmp / "bin"
    directory.mkdir()
    return directory


def test_a_binary_is_planned_as_itself_with_the_callers_argv0() -> None:
    with policy("/usr/bin").plan(TRUE, "true", os.defpath) as plan:
        assert plan.argv == ["true"]
        assert plan.real_path == TRUE
        assert os.path.samestat(os.stat(plan.exec_path), os.stat(TRUE))


def test_the_descriptor_pins_the_file_even_if_the_name_is_retargeted_after_the_check(bin_dir: Path) -> None:
    shutil.copy(TRUE, bin_dir / "true-copy")
    (bin_dir / "prog").symlink_to(bin_dir / "true-copy")
    with policy(bin_dir, "/usr/bin").plan(str(bin_dir / "prog"), "prog", os.defpath) as plan:
        (bin_dir / "prog").unlink()
        (bin_dir / "prog").symlink_to(DASH)
        ran = subprocess.run(
            [*plan.argv, "-c", "exit 7"], executable=plan.exec_path, pass_fds=(plan.descriptor,), check=False
        )
    assert ran.returncode == 0, "the checked copy of true ran, not the dash the name now points at"


def test_a_copy_of_a_denied_program_is_refused_whatever_its_name(bin_dir: Path) -> None:
    shutil.copy(DASH, bin_dir / "harmless")
    with pytest.raises(ForbiddenCommand, match=f"a copy of {DASH}"):
        policy(bin_dir, "/usr/bin").check(str(bin_dir / "harmless"), "harmless", os.defpath)


def test_a_hard_link_of_a_denied_program_is_refused_whatever_its_name(bin_dir: Path) -> None:
    shutil.copy(TRUE, bin_dir / "mytool")
    os.link(bin_dir / "mytool", bin_dir / "other-name")
    with pytest.raises(ForbiddenCommand, match=r"the same file as .*/mytool"):
        policy(bin_dir, denied="mytool").check(str(bin_dir / "other-name"), "other-name", os.defpath)


def test_a_program_named_in_the_allowlist_is_allowed_even_if_denied_and_nothing_beside_it() -> None:
    only_sed = policy("/usr/bin/sed")
    only_sed.check("/usr/bin/sed", "sed", os.defpath)
    with pytest.raises(ForbiddenCommand, match="outside the allowed roots"):
        only_sed.check(TRUE, "true", os.defpath)


def test_a_script_runs_through_its_checked_interpreter_with_the_kernels_argv(bin_dir: Path) -> None:
    inner = script(bin_dir / "inner", f"#!{PYTHON}\nimport sys\nprint(sys.argv[1:])\n")
    outer = script(bin_dir / "outer", f"#!{inner}  -x \n")
    allowed = policy(bin_dir, PYTHON_ROOT)
    with allowed.plan(str(outer), "outer", os.defpath) as plan:
        assert plan.argv == [PYTHON, str(inner), "-x", str(outer)]
        by_plan = subprocess.run(
            [*plan.argv, "a b"], executable=plan.exec_path, pass_fds=(plan.descriptor,), capture_output=True
        )
    by_kernel = subprocess.run([str(outer), "a b"], capture_output=True, check=True)
    assert by_plan.stdout == by_kernel.stdout == f"['-x', '{outer}', 'a b']\n".encode()


def test_the_interpreter_of_a_script_is_checked_like_the_script(bin_dir: Path) -> None:
    tool = script(bin_dir / "tool", "#!/bin/bash\necho hi\n")
    with pytest.raises(ForbiddenCommand, match=r"the interpreter of .*/tool /bin/bash .*'bash' is denied"):
        policy(bin_dir, "/usr/bin").check(str(tool), "tool", os.defpath)
    outside = script(bin_dir / "outside", f"#!{TRUE}\n")
    with pytest.raises(ForbiddenCommand, match="outside the allowed roots"):
        policy(bin_dir).check(str(outside), "outside", os.defpath)


def test_usr_bin_env_name_is_resolved_on_the_childs_path_and_checked_without_running_env(
    bin_dir: Path,
) -> None:
    tool = script(bin_dir / "tool", "#!/usr/bin/env python3\nprint('hi')\n")
    with policy(bin_dir, PYTHON_ROOT).plan(str(tool), "tool", PYTHON_ROOT) as plan:
        assert plan.argv == ["python3", str(tool)]
        assert os.path.samefile(plan.real_path, os.path.realpath(sys.executable))
    with pytest.raises(ExecutableNotFound, match="not on the child's PATH"):
        policy(bin_dir, PYTHON_ROOT).check(str(tool), "tool", str(bin_dir))


@pytest.mark.parametrize("argument", [None, "-S python3 -u", "FOO=1 python3", "-i", "python3 -u"])
def test_env_with_options_or_assignments_is_a_launcher(argument: str | None) -> None:
    with pytest.raises(ForbiddenCommand, match="start the interpreter itself"):
        env_program("/usr/bin/env", argument, "/x/tool")


def test_the_shebang_line_is_read_as_linux_reads_it() -> None:
    assert parse_shebang(b"#! /usr/bin/python3 -u -W error \nrest", "t") == (
        "/usr/bin/python3",
        "-u -W error",
    )
    assert parse_shebang(b"#!/bin/sh", "t") == ("/bin/sh", None)
    with pytest.raises(ForbiddenCommand, match="absolute path"):
        parse_shebang(b"#!python3\n", "t")
    with pytest.raises(ForbiddenCommand, match="longer than"):
        parse_shebang(b"#!/" + b"x" * 300, "t")


def test_a_file_that_is_neither_elf_nor_a_script_is_refused(bin_dir: Path) -> None:
    data = script(bin_dir / "data", "just text, which binfmt_misc might hand to anything\n")
    with pytest.raises(ForbiddenCommand, match="neither an ELF binary nor a `#!` script"):
        policy(bin_dir).check(str(data), "data", os.defpath)


def test_a_directory_or_a_fifo_is_refused_without_being_opened_for_reading(bin_dir: Path) -> None:
    os.mkfifo(bin_dir / "fifo")
    with pytest.raises(ForbiddenCommand, match="not a regular file"):
        policy(bin_dir).check(str(bin_dir / "fifo"), "fifo", os.defpath)


def test_too_many_interpreters_in_a_row_are_refused(bin_dir: Path) -> None:
    previous = Path(TRUE)
    for level in range(6):
        previous = script(bin_dir / f"level{level}", f"#!{previous}\n")
    with pytest.raises(ForbiddenCommand, match="more than 4 `#!` interpreters"):
        policy(bin_dir, "/usr/bin").check(str(previous), "level5", os.defpath)
