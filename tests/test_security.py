"""What a client may run, on a real daemon: the file that runs is the file that was checked,
launchers are refused by name and by content, and so is an environment that injects code."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from pm_actors.api import RestartProcess, StartProcess, WaitFor
from pm_actors.errors import ForbiddenCommand
from pm_actors.states import ProcessState
from tests.daemon_support import Daemon, DaemonLauncher, SyncClient

SWAP_ATTEMPTS = 200
"""Starts raced against the swapping thread; the issue's probe ran dash 42 times in 300."""


@pytest.fixture
def bin_dir(short_tmp: Path) -> Path:
    """A directory the test (and so a managed process) can write to."""
    directory = short_tmp / "bin"
    directory.mkdir()
    return directory


@pytest.fixture
def writable_daemon(daemons: DaemonLauncher, pm_environment: dict[str, str], bin_dir: Path) -> Daemon:
    """A daemon whose allowlist holds a directory anyone here can write to, as the probe's did."""
    return daemons.start(PM_ALLOWED_COMMANDS=f"{pm_environment['PM_ALLOWED_COMMANDS']},{bin_dir}")


def start(client: SyncClient, name: str, command: str, *args: str, env: dict[str, str] | None = None) -> None:
    request = StartProcess(
        name=name, command=command, args=list(args), cwd="/", env=env or {}, restart="never"
    )
    client.call(request)


def swap_until(stop: threading.Event, target: Path, first: Path, second: Path) -> None:
    """Point `target` at `first`, then `second`, and so on, each time in one atomic rename."""
    staging = target.with_name(target.name + ".next")
    while not stop.is_set():
        for source in (first, second):
            staging.unlink(missing_ok=True)
            if source.is_symlink():
                staging.symlink_to(os.readlink(source))
            else:
                os.link(source, staging)
            os.replace(staging, target)


@pytest.mark.timeout(120)
def test_a_name_swapped_between_true_and_a_link_to_dash_while_starting_never_runs_dash(
    writable_daemon: Daemon, bin_dir: Path
) -> None:
    shutil.copy("/usr/bin/true", bin_dir / "true-copy")
    (bin_dir / "dash-link").symlink_to("/usr/bin/dash")
    prog = bin_dir / "prog2"
    os.link(bin_dir / "true-copy", prog)
    stop = threading.Event()
    swapper = threading.Thread(
        target=swap_until, args=(stop, prog, bin_dir / "true-copy", bin_dir / "dash-link")
    )
    outcomes: list[ProcessState | str] = []
    with writable_daemon.client() as client:
        swapper.start()
        try:
            for _ in range(SWAP_ATTEMPTS):
                try:
                    start(client, "prog2", str(prog), "-c", "exit 7")
                except ForbiddenCommand:
                    outcomes.append("refused")
                    continue
                outcomes.append(client.call(WaitFor(name="prog2", until="exited", timeout_s=20)).state)
        finally:
            stop.set()
            swapper.join()
    assert ProcessState.CRASHED not in outcomes, "dash ran (`exit 7` made a run crash)"
    assert outcomes.count(ProcessState.EXITED) > 0 and outcomes.count("refused") > 0, outcomes


@pytest.mark.timeout(60)
def test_a_restart_checks_again_so_a_link_retargeted_outside_the_roots_is_refused(
    writable_daemon: Daemon, bin_dir: Path, short_tmp: Path
) -> None:
    outside = short_tmp / "outside"
    outside.mkdir()
    shutil.copy("/usr/bin/sleep", outside / "sleep")
    link = bin_dir / "tool"
    link.symlink_to("/usr/bin/sleep")
    with writable_daemon.client() as client:
        start(client, "tool", str(link), "60")
        link.unlink()
        link.symlink_to(outside / "sleep")
        with pytest.raises(ForbiddenCommand, match="outside the allowed roots"):
            client.call(RestartProcess(name="tool"))
        info = client.call(WaitFor(name="tool", until="exited", timeout_s=20))
        assert info.state is ProcessState.CRASHED
        link.unlink()
        link.symlink_to("/usr/bin/sleep")
        assert client.call(RestartProcess(name="tool")).state is ProcessState.RUNNING


LAUNCHERS = {
    "sed": ["-n", "1e touch /tmp/pm-pwned", "/etc/hostname"],
    "tar": [
        "-cf",
        "/dev/null",
        "/etc/hostname",
        "--checkpoint=1",
        "--checkpoint-action=exec=touch /tmp/pm-pwned",
    ],
    "git": ["-c", "alias.x=!touch /tmp/pm-pwned", "x"],
    "make": ["--eval", "x:\n\ttouch /tmp/pm-pwned", "x"],
    "vim": ["-c", "!touch /tmp/pm-pwned", "-c", "qa!"],
    "zip": ["/tmp/pm-z.zip", "/etc/hostname", "-T", "-TT", "touch /tmp/pm-pwned #"],
    "prlimit": ["touch", "/tmp/pm-pwned"],
    "setarch": ["x86_64", "touch", "/tmp/pm-pwned"],
    "ldd": ["/usr/bin/true"],
}
"""The probe's escapes with the default roots, with the arguments that ran a command through them
(ldd is a bash script: its interpreter is what is refused)."""


@pytest.mark.timeout(60)
def test_every_launcher_the_probe_used_is_refused_with_the_default_roots(daemon: Daemon) -> None:
    present = {name: args for name, args in LAUNCHERS.items() if shutil.which(name)}
    assert present, "none of the launchers is installed here"
    with daemon.client() as client:
        for name, args in present.items():
            with pytest.raises(ForbiddenCommand, match="denied"):
                start(client, name.replace(".", "-"), name, *args)
    assert not os.path.exists("/tmp/pm-pwned")


@pytest.mark.timeout(60)
def test_a_copy_of_dash_made_through_pm_actors_with_cp_is_refused_under_its_new_name(
    writable_daemon: Daemon, bin_dir: Path
) -> None:
    with writable_daemon.client() as client:
        start(client, "copier", "/usr/bin/cp", "/usr/bin/dash", str(bin_dir / "harmless"))
        assert client.call(WaitFor(name="copier", until="exited", timeout_s=20)).state is ProcessState.EXITED
        with pytest.raises(ForbiddenCommand, match="a copy of /usr/bin/dash"):
            start(client, "harmless", str(bin_dir / "harmless"), "-c", "exit 7")


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BASH_ENV", "/tmp/evil.sh"),
        ("ENV", "/tmp/evil.sh"),
        ("SHELLOPTS", "xtrace"),
        ("PS4", "$(touch /tmp/pm-pwned)"),
        ("PERL5OPT", "-Mstrict;system('touch /tmp/pm-pwned')"),
        ("NODE_OPTIONS", "--require /tmp/evil.js"),
        ("NODE_OPTIONS", "--import=data:text/javascript,process.exit(7)"),
        ("BASH_FUNC_ls%%", "() { touch /tmp/pm-pwned; }"),
        ("GIT_CONFIG_COUNT", "1"),
        ("LD_PRELOAD", "/tmp/evil.so"),
    ],
)
def test_variables_that_make_a_shell_or_interpreter_run_code_are_refused(
    daemon: Daemon, name: str, value: str
) -> None:
    with daemon.client() as client, pytest.raises(ForbiddenCommand, match=name):
        start(client, "victim", "/usr/bin/true", env={name: value})


@pytest.mark.timeout(60)
def test_an_allowlist_of_single_executables_allows_exactly_those(daemons: DaemonLauncher) -> None:
    daemon = daemons.start(PM_ALLOWED_COMMANDS="/usr/bin/true,/usr/bin/sed")
    with daemon.client() as client:
        start(client, "yes-true", "true")
        start(client, "named-sed", "sed", "-n", "p", "/etc/hostname")
        with pytest.raises(ForbiddenCommand, match="outside the allowed roots"):
            start(client, "no-false", "false")
