"""Which file runs: opened once, checked as opened, executed by its descriptor.

A path is only a name: between a check of `/opt/tools/prog` and its exec, the name may be
pointed at another file (a symlink retargeted, a file renamed over it). So the executable is
opened once (`O_PATH`: no side effect, whatever it is) and every check is made on that open
file: its real path, read back from `/proc/self/fd` (every symlink on the way resolved as it
was when opened), is one of the allowed executables or lies under an allowed directory
(whole path components); it is a regular file the daemon may execute and read; it is not a
denied program by name, by inode or by content (`denied_programs`); and it is an ELF binary
or a `#!` script. The child then execs `/proc/self/fd/N`: the very inode that was checked.
It happens at every spawn (start, restart, automatic restart, command health check), so a
name retargeted after a start changes what a restart runs only through the same checks.

A script is never exec'd itself, since the kernel would look its `#!` interpreter up by path
again. Its interpreter is opened and checked like the script (and its own `#!`, as deep as
the kernel follows), and the plan execs the interpreter's descriptor with the argv the kernel
would have built: `[interpreter, its argument if any, script path, args...]`. The script's
text is then read by an interpreter that is itself allowed, which runs whatever it is given.
`#!/usr/bin/env NAME` is resolved as env would (NAME on the child's PATH) and NAME checked,
without running env; env with options or assignments is a launcher, refused.

The child inherits that one descriptor (pass_fds keeps it open through the exec): a read-only
`O_PATH` handle on its own executable, which grants nothing it could not open itself. Tools
that show the kernel's short process name (`ps -o comm`, `top`, `pgrep NAME`) show the
descriptor's number, since the exec'd path ends in it; argv, and so `ps -f`, is unchanged.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from pm_actors.actors import command_advice
from pm_actors.actors.child import SpawnedChild, spawn
from pm_actors.actors.denied_programs import STANDARD_DIRECTORIES, DeniedPrograms
from pm_actors.config import Config
from pm_actors.definition import ProcessDefinition
from pm_actors.errors import ExecutableNotFound, ForbiddenCommand

MAX_INTERPRETER_DEPTH = 4
"""`#!` levels followed, as the kernel does (a script whose interpreter is a script...);
beyond it the kernel itself gives up with ELOOP."""
HEAD_BYTES = 256
"""What the kernel reads of a file to recognise it (BINPRM_BUF_SIZE since Linux 5.1): a `#!`
line must end within it."""
ELF_MAGIC = b"\x7fELF"
ENV_INTERPRETERS = frozenset({"/usr/bin/env", "/bin/env"})


@dataclass
class ExecPlan:
    """What to exec: the descriptor of a checked ELF binary, and the argv that goes before the
    caller's arguments. The owner closes it once the child is spawned (`with plan:`)."""

    descriptor: int
    argv: list[str]
    real_path: str

    @property
    def exec_path(self) -> str:
        return f"/proc/self/fd/{self.descriptor}"

    def close(self) -> None:
        os.close(self.descriptor)

    def __enter__(self) -> ExecPlan:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


class ExecutablePolicy:
    """PM_ALLOWED_COMMANDS and PM_DENIED_COMMANDS, applied to open files. Thread-safe."""

    def __init__(self, config: Config, search_path: str | None = None) -> None:
        self._roots = config.allowed_commands
        self._explicit = frozenset(config.allowed_commands)
        """Entries that name one executable: a realpath equal to one of them is allowed as it
        is, deny-list included (naming it is the person's decision)."""
        self._denied_names = config.denied_commands
        path = os.environ.get("PATH", os.defpath) if search_path is None else search_path
        directories = [*path.split(os.pathsep), *map(str, self._roots), *STANDARD_DIRECTORIES]
        self._denied = DeniedPrograms(self._denied_names, directories, exempt=self._explicit)

    def plan(self, path: str, argv0: str, search_path: str) -> ExecPlan:
        """Open `path` (absolute, as resolved), check it and, for a script, its interpreters.

        `search_path` is the PATH the child will see, where `#!/usr/bin/env NAME` finds NAME.
        Raises ExecutableNotFound or ForbiddenCommand saying what to do instead."""
        argv = [argv0]
        target, role = path, "command"
        script: tuple[str, bytes] | None = None
        """The script whose interpreter `target` is, with its first bytes (None for the command)."""
        for _ in range(MAX_INTERPRETER_DEPTH + 1):
            descriptor = _open(target, role)
            try:
                real_path = self._check(descriptor, target, role, script)
                head = _read_head(descriptor, target, role)
            except BaseException:
                os.close(descriptor)
                raise
            if head.startswith(ELF_MAGIC):
                return ExecPlan(descriptor, argv, real_path)
            os.close(descriptor)
            script = (target, head)
            interpreter, argument = parse_shebang(head, target)
            if interpreter in ENV_INTERPRETERS:
                name = env_program(interpreter, argument, target)
                argv = [name, target, *argv[1:]]
                target = _which(name, search_path, target)
            else:
                argv = [interpreter, *([argument] if argument else []), target, *argv[1:]]
                target = interpreter
            role = f"the interpreter of {path}"
        raise ForbiddenCommand(
            f"{path} goes through more than {MAX_INTERPRETER_DEPTH} `#!` interpreters; "
            "start the interpreter that does the work directly"
        )

    def check(self, path: str, argv0: str, search_path: str) -> None:
        """`plan` without keeping the descriptor: a request's early, precise refusal."""
        self.plan(path, argv0, search_path).close()

    def _check(self, descriptor: int, target: str, role: str, script: tuple[str, bytes] | None) -> str:
        """The real path of the open file, once it passed every check. `script` is the script
        (path, first bytes) whose interpreter this is, for the advice of a refusal."""
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise ForbiddenCommand(f"{role} {target} is not a regular file, so it cannot be run")
        real = os.readlink(f"/proc/self/fd/{descriptor}")
        if not real.startswith("/") or real.endswith(" (deleted)"):
            raise ForbiddenCommand(f"{role} {target} was removed or replaced while it was checked; try again")
        real_path = Path(real)
        explicit = real_path in self._explicit
        if not explicit and not any(real_path.is_relative_to(root) for root in self._roots):
            head = _head_if_readable(descriptor)
            raise ForbiddenCommand(command_advice.outside_roots(role, target, real, self._roots, head))
        if not os.access(f"/proc/self/fd/{descriptor}", os.X_OK):
            raise ForbiddenCommand(f"{role} {target} is not executable (no execute permission)")
        if not explicit:
            self._check_not_denied(descriptor, status, target, real_path, role, script)
        return real

    def _check_not_denied(
        self,
        descriptor: int,
        status: os.stat_result,
        target: str,
        real_path: Path,
        role: str,
        script: tuple[str, bytes] | None,
    ) -> None:
        for name in (Path(target).name, real_path.name):
            if name in self._denied_names:
                advice = script and command_advice.denied_interpreter(*script, self._roots)
                raise ForbiddenCommand(
                    f"{role} {target} ({real_path}) is a shell, launcher or command runner that can run "
                    f"any program, so {name!r} is denied (PM_DENIED_COMMANDS); "
                    + (
                        advice
                        or "run the program itself instead, or name this executable in "
                        "PM_ALLOWED_COMMANDS to allow it"
                    )
                )
        same_as = self._denied.match(descriptor, status)
        if same_as is not None:
            raise ForbiddenCommand(
                f"{role} {target} is {same_as}, a denied program (PM_DENIED_COMMANDS) under another "
                "name; run the program itself instead"
            )


def parse_shebang(head: bytes, target: str) -> tuple[str, str | None]:
    """The interpreter and its optional single argument of a `#!` line, read as Linux does:
    spaces and tabs around them dropped, the rest of the line one argument."""
    if not head.startswith(b"#!"):
        raise ForbiddenCommand(
            f"{target} is neither an ELF binary nor a `#!` script, so the kernel would hand it to "
            "an interpreter that cannot be checked (or refuse it)"
        )
    line, newline, _ = head[2:].partition(b"\n")
    if not newline and len(head) >= HEAD_BYTES:
        raise ForbiddenCommand(f"the `#!` line of {target} is longer than the {HEAD_BYTES} bytes Linux reads")
    text = os.fsdecode(line).strip(" \t")
    interpreter, _, rest = text.replace("\t", " ").partition(" ")
    if not interpreter.startswith("/"):
        raise ForbiddenCommand(
            f"{target} names its interpreter as {interpreter!r} in its `#!` line; an interpreter "
            "must be an absolute path"
        )
    return interpreter, rest.strip(" \t") or None


def env_program(interpreter: str, argument: str | None, target: str) -> str:
    """The program `#!/usr/bin/env NAME` runs; env with options or assignments is a launcher."""
    if argument is None or argument.startswith("-") or "=" in argument or " " in argument:
        raise ForbiddenCommand(
            f"{target} starts with `#!{interpreter} {argument or ''}`: env with options or assignments "
            "runs whatever they say, so it is refused; start the interpreter itself, with the script "
            "as its first argument"
        )
    return argument


def _open(target: str, role: str) -> int:
    try:
        return os.open(target, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ExecutableNotFound(f"{role} {target} not found") from None
    except OSError as error:
        raise ForbiddenCommand(f"{role} {target} cannot be opened: {error.strerror}") from None


def _read_head(descriptor: int, target: str, role: str) -> bytes:
    """The first bytes of the open file, through the descriptor (never the path again)."""
    try:
        reader = os.open(f"/proc/self/fd/{descriptor}", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as error:
        raise ForbiddenCommand(
            f"{role} {target} cannot be read ({error.strerror}), so what it is cannot be checked; "
            "make it readable"
        ) from None
    try:
        return os.pread(reader, HEAD_BYTES, 0)
    finally:
        os.close(reader)


def _head_if_readable(descriptor: int) -> bytes | None:
    """The first bytes of the open file for a refusal's advice, or None if it cannot be read."""
    try:
        return _read_head(descriptor, "", "")
    except ForbiddenCommand:
        return None


def on_path(name: str, search_path: str) -> str | None:
    """The first `name` on `search_path` that is an executable file, as `shutil.which` finds it
    (shutil itself would cost the daemon ~0.6 MB: the compression modules it imports)."""
    for directory in search_path.split(os.pathsep):
        candidate = os.path.join(directory or os.curdir, name)
        if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return candidate
    return None


def _which(name: str, search_path: str, target: str) -> str:
    found = on_path(name, search_path)
    if found is None:
        raise ExecutableNotFound(
            f"the interpreter {name!r} of {target} (`#!/usr/bin/env {name}`) is not on the child's PATH"
        )
    return os.path.abspath(found)


def spawn_checked(
    policy: ExecutablePolicy, definition: ProcessDefinition, environment: Mapping[str, str], marker: str
) -> SpawnedChild:
    """Check the definition's executable (again: every spawn checks) and spawn exactly what was
    checked, with `environment` and the run's `marker`."""
    search_path = environment.get("PATH", os.defpath)
    with policy.plan(definition.executable, definition.command, search_path) as plan:
        argv = [*plan.argv, *definition.args]
        return spawn(
            plan.exec_path, plan.descriptor, argv, definition.cwd, environment, marker, definition.stdin
        )
