"""What to do about a refused executable: advice that works, written into the refusal.

The check is `executables.ExecutablePolicy`'s and stays as strict as it is; this module only
words two refusals so that the reader (often a model) can act on them at once:

- An executable outside the allowed roots. The real path is what is checked, and a Python in
  a virtual environment is a link to its base interpreter (`.venv/bin/python` ->
  `~/.pyenv/versions/3.12.1/bin/python3.12`), so the directory to allow is the real path's,
  not the link's. The refusal names the real path and the exact `PM_ALLOWED_COMMANDS` value.
- A wrapper script: a version manager's shim (pyenv, asdf, rbenv, nodenv, mise:
  `~/.pyenv/shims/python3`) or any script run by a shell. Shells are denied, so allowing the
  shims directory cannot help: the command must be the real interpreter (`pyenv which
  python3` prints it), and the directory of its real path allowed. The refusal says so and
  lists the interpreters installed beside the shim.

Pure but for reading a few directory entries beside a shim, on the refusal path only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from pm_actors.config import DENIED_SHELLS

SHELL_NAMES: Final = frozenset(DENIED_SHELLS.split(","))
ENV_PROGRAMS: Final = frozenset({"env"})
VERSION_MANAGERS: Final = frozenset(
    {"pyenv", "rbenv", "nodenv", "goenv", "plenv", "jenv", "phpenv", "luaenv", "asdf", "mise", "rtx"}
)
"""Tools whose `shims/` directory holds wrapper scripts and which answer `TOOL which NAME`."""
INSTALL_LAYOUTS: Final = ("versions/*/bin", "installs/*/*/bin")
"""Where a version manager's root keeps real interpreters: pyenv, rbenv, nodenv, goenv use
`versions/VERSION/bin`; asdf and mise `installs/PLUGIN/VERSION/bin`."""
MAX_CANDIDATES_NAMED: Final = 4
WHERE: Final = 'in the environment pm-actors starts with (an MCP client\'s "env", or your shell)'


def outside_roots(role: str, target: str, real: str, roots: Sequence[Path], head: bytes | None) -> str:
    """The refusal of `target` (`role`: the command, or a script's interpreter), whose real path
    `real` lies under none of `roots`; `head` is the file's first bytes if they could be read."""
    allowed = ",".join(map(str, roots))
    directory = os.path.dirname(real)
    refusal = (
        f"{role} {target} resolves to {real}, which is outside the allowed roots "
        f"({', '.join(map(str, roots))})"
    )
    interpreter = _interpreter_name(head)
    if interpreter is not None:
        advice = _script_advice(target, interpreter, allowed) or (
            f"It is a `#!` script run by {interpreter}: allow its directory, "
            f"PM_ALLOWED_COMMANDS={allowed},{directory} {WHERE} (its interpreter is checked too), "
            f"or start the interpreter itself with {target} as its first argument"
        )
    elif real != os.path.normpath(target):
        advice = (
            f"The real path is what is checked ({target} leads to it through a link, as a virtual "
            "environment's python does to its base interpreter), so allow the real path's "
            f"directory, PM_ALLOWED_COMMANDS={allowed},{directory} {WHERE}, and keep {target} as "
            "the command: it still runs as itself"
        )
    else:
        advice = (
            f"To allow it, add its directory, PM_ALLOWED_COMMANDS={allowed},{directory} {WHERE} "
            f"(or the file alone: PM_ALLOWED_COMMANDS={allowed},{real})"
        )
    return f"{refusal}. {advice}"


def denied_interpreter(script: str, head: bytes | None, roots: Sequence[Path]) -> str | None:
    """Advice for `script` (whose first bytes are `head`) when its `#!` interpreter is denied:
    for a shim or a shell script, what works instead; None for any other script."""
    interpreter = _interpreter_name(head)
    if interpreter is None:
        return None
    return _script_advice(script, interpreter, ",".join(map(str, roots)))


def _script_advice(script: str, interpreter: str, allowed: str) -> str | None:
    if Path(script).parent.name == "shims":
        return wrapper_advice(script, interpreter, allowed)
    if interpreter in SHELL_NAMES:
        return (
            f"{script} is a shell script (run by {interpreter}), and shells are denied. If it is a "
            "wrapper that starts an interpreter, give that interpreter's absolute path as the "
            "command and allow the directory of its real path; to run the script itself, name the "
            "shell alone in PM_ALLOWED_COMMANDS (e.g. /usr/bin/bash), which lets any command run"
        )
    return None


def wrapper_advice(script: str, interpreter: str, allowed: str) -> str:
    """What to do instead of running `script`, a shim run by `interpreter`."""
    program = Path(script).name
    manager = version_manager(script)
    if manager:
        kind = f"a {manager} shim"
        finder = f"`{manager} which {program}` prints it"
        locate = f'dirname "$(realpath "$({manager} which {program})")"'
    else:
        kind = "a version manager's shim"
        finder = f"your version manager's `which {program}` prints it"
        locate = 'dirname "$(realpath INTERPRETER)"'
    candidates = installed_interpreters(script)
    if candidates:
        more = len(candidates) - MAX_CANDIDATES_NAMED
        finder += f" (installed here: {', '.join(candidates[:MAX_CANDIDATES_NAMED])}"
        finder += f" and {more} older)" if more > 0 else ")"
    if program.startswith("python"):
        finder += f", or use the project's .venv/bin/{program}"
    return (
        f"{script} is {kind} run by {interpreter}: it picks the real program at run time through a "
        "shell, and shells are denied, so allowing its directory cannot help. Give the real "
        f"interpreter's absolute path as the command instead: {finder}. Then allow the directory "
        f"of its real path, which `{locate}` prints: PM_ALLOWED_COMMANDS={allowed},DIRECTORY {WHERE}"
    )


def version_manager(path: str) -> str | None:
    """The version manager whose `shims/` directory holds `path` (`~/.pyenv/shims/python3` ->
    `pyenv`), or None."""
    parent = Path(path).parent
    if parent.name != "shims":
        return None
    name = parent.parent.name.lstrip(".")
    return name if name in VERSION_MANAGERS else None


def installed_interpreters(shim: str) -> list[str]:
    """The real programs of the shim's name under its version manager's root, newest first."""
    shims = Path(shim).parent
    if shims.name != "shims":
        return []
    program = Path(shim).name
    found = {
        str(candidate)
        for layout in INSTALL_LAYOUTS
        for candidate in shims.parent.glob(f"{layout}/{program}")
        if os.access(candidate, os.X_OK) and candidate.is_file()
    }
    return sorted(found, key=_natural_key, reverse=True)


def _natural_key(text: str) -> list[tuple[int, int | str]]:
    """Order 3.9 before 3.10: digit runs compare as numbers."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", text)]


def _interpreter_name(head: bytes | None) -> str | None:
    """The program a `#!` line runs (`#!/usr/bin/env bash` -> `bash`), or None for no `#!`."""
    if head is None or not head.startswith(b"#!"):
        return None
    words = os.fsdecode(head[2:].partition(b"\n")[0]).split()
    if not words:
        return None
    name = os.path.basename(words[0])
    if name in ENV_PROGRAMS:
        arguments = [word for word in words[1:] if not word.startswith("-") and "=" not in word]
        return arguments[0] if arguments else name
    return name
