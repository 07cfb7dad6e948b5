"""Continuity: a daemon under its keeper is killed with SIGKILL or restarted on purpose, and its
processes run on, heard: a real keeper, real daemons, real children, a real database."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from pm_actors.api import GetLogs, ListProcesses, StartProcess, StopProcess
from pm_actors.app import cli
from pm_actors.config import Config
from pm_actors.errors import DaemonUnavailable, PmError
from pm_actors.ipc import client as client_module
from pm_actors.ipc import settings_check
from pm_actors.ipc.client import DaemonOfOtherRelease
from pm_actors.ipc.launcher import connect_or_start
from pm_actors.ipc.protocol import PROTOCOL_VERSION
from pm_actors.results import ProcessRecord
from pm_actors.states import ProcessState
from tests.daemon_support import Daemon, SyncClient
from tests.helpers import PYTHON, process_is_gone, wait_until
from tests.ipc.support import make_config
from tests.ipc.support import run as run_bounded

COUNTER = "import time\nfor i in range(100000):\n    print(i, flush=True)\n    time.sleep(0.01)"
QUITTER = "import time, sys\nprint('about to quit', flush=True)\ntime.sleep(1.0)\nsys.exit(3)"
BLINK = "import time, sys\ntime.sleep(0.05)\nsys.exit(4)"
MAX_LINES_LOST = 100
"""Lines a SIGKILL of the daemon may lose: those it had read but not committed (written in
ARCHITECTURE.md); with a line every 10 ms, far fewer in practice."""


class Kept:
    """A keeper (our child) and the daemon it runs."""

    def __init__(self, directory: Path, environment: dict[str, str]) -> None:
        self.config: Config = make_config(environment)
        self.log_path = directory / "keeper.log"
        with self.log_path.open("wb") as log:
            self.keeper = subprocess.Popen(
                [PYTHON, "-m", "pm_actors.app.keeper"],
                cwd=directory,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.wait_serving()

    def daemon_pid(self) -> int:
        """The pid in the lock file; 0 while a starting daemon rewrites it."""
        text = self.config.lock_path.read_text().strip()
        return int(text) if text else 0

    def wait_serving(self, after: int | None = None) -> float:
        """Seconds until a daemon (not the one `after` names, which was killed) answers a call.
        A killed daemon's main thread is a zombie before its other threads have closed its
        socket: a connection may still land there and be reset, so a failed call is tried again."""
        started = time.monotonic()

        def answers() -> bool:
            if after is not None and self.daemon_pid() in (after, 0):
                return False
            try:
                self.call(ListProcesses())
            except DaemonUnavailable:
                return False
            return True

        wait_until(answers, timeout=20, message="a daemon to answer")
        return time.monotonic() - started

    def call(self, request: object) -> object:
        with SyncClient(self.config) as client:
            return client.call(request)  # type: ignore[arg-type]

    def stop(self) -> None:
        """SIGTERM the keeper: it passes it to its daemon, which stops every process, and the
        keeper ends with it."""
        if self.keeper.poll() is None:
            self.keeper.send_signal(signal.SIGTERM)
        try:
            self.keeper.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.keeper.kill()
            self.keeper.wait()
            raise AssertionError(f"the keeper did not end:\n{self.log_path.read_text()}") from None


@pytest.fixture
def kept(short_tmp: Path, pm_environment: dict[str, str]) -> Iterator[Kept]:
    keeper = Kept(short_tmp, pm_environment)
    try:
        yield keeper
    finally:
        keeper.stop()


def start(kept: Kept, name: str, code: str) -> ProcessRecord:
    request = StartProcess(name=name, command=PYTHON, args=["-u", "-c", code], cwd="/", restart="never")
    record = kept.call(request)
    assert isinstance(record, ProcessRecord) and record.pid is not None
    return record


def numbers(kept: Kept, name: str) -> list[int]:
    page = kept.call(GetLogs(name=name, limit=10_000))
    return [int(line.text) for line in page.lines]  # type: ignore[attr-defined]


def record_of(kept: Kept, name: str) -> ProcessRecord:
    listing = kept.call(ListProcesses())
    record: ProcessRecord = next(r for r in listing.processes if r.name == name)  # type: ignore[attr-defined]
    return record


@pytest.mark.timeout(90)
def test_after_sigkill_of_the_daemon_a_new_one_serves_within_a_second_and_the_child_runs_on_heard(
    kept: Kept,
) -> None:
    counter = start(kept, "counter", COUNTER)
    quitter = start(kept, "quitter", QUITTER)
    wait_until(lambda: len(numbers(kept, "counter")) > 20, message="the counter to count")
    blink = start(kept, "blink", BLINK)  # ends within the outage
    first = kept.daemon_pid()

    psutil.Process(first).kill()
    outage_s = kept.wait_serving(after=first)
    print(f"outage {outage_s:.3f} s")

    assert kept.daemon_pid() != first
    assert outage_s < 5.0, f"serving again after {outage_s:.2f} s"  # measured: well under 1 s
    assert record_of(kept, "counter").pid == counter.pid and not process_is_gone(counter.pid or 0)
    wait_until(lambda: len(numbers(kept, "counter")) > 200, timeout=20, message="lines after the outage")
    seen = numbers(kept, "counter")
    missing = set(range(seen[-1])) - set(seen)
    assert len(missing) <= MAX_LINES_LOST, sorted(missing)

    ended = wait_until(
        lambda: (record := record_of(kept, "quitter")).state is ProcessState.CRASHED and record,
        timeout=20,
        message="the exit during or after the outage to be recorded",
    )
    assert ended.exit_code == 3 and process_is_gone(quitter.pid or 0)
    blinked = wait_until(
        lambda: (record := record_of(kept, "blink")).state is ProcessState.CRASHED and record,
        timeout=20,
        message="the exit during the outage to be recorded",
    )
    assert blinked.exit_code == 4 and process_is_gone(blink.pid or 0)

    stopped = kept.call(StopProcess(name="counter"))
    assert isinstance(stopped, ProcessRecord) and stopped.state is ProcessState.STOPPED
    wait_until(lambda: process_is_gone(counter.pid or 0), message="the adopted child to be stopped")


@pytest.mark.timeout(90)
def test_sighup_restarts_the_daemon_under_its_keeper_and_no_line_is_lost(kept: Kept) -> None:
    counter = start(kept, "counter", COUNTER)
    wait_until(lambda: len(numbers(kept, "counter")) > 20, message="the counter to count")
    first = kept.daemon_pid()

    psutil.Process(first).send_signal(signal.SIGHUP)
    kept.wait_serving(after=first)
    assert kept.daemon_pid() != first

    assert record_of(kept, "counter").pid == counter.pid
    wait_until(lambda: len(numbers(kept, "counter")) > 200, timeout=20, message="lines after the restart")
    seen = numbers(kept, "counter")
    assert seen == list(range(len(seen))), "a planned restart loses no line"


@pytest.mark.timeout(90)
def test_adopted_processes_still_stop_when_the_keeper_itself_is_gone(kept: Kept) -> None:
    """The keeper reports an adopted child's exit; killed, it reports nothing: the child's
    pidfd still says it ended, so a stop ends and a shutdown does not wait for ever."""
    counter = start(kept, "counter", COUNTER)
    first = kept.daemon_pid()
    psutil.Process(first).kill()
    kept.wait_serving(after=first)
    daemon = psutil.Process(kept.daemon_pid())

    kept.keeper.kill()
    kept.keeper.wait()
    stopped = kept.call(StopProcess(name="counter"))
    assert isinstance(stopped, ProcessRecord) and stopped.state is ProcessState.STOPPED
    assert process_is_gone(counter.pid or 0)

    daemon.send_signal(signal.SIGTERM)
    daemon.wait(timeout=20)


@pytest.mark.timeout(90)
def test_after_a_graceful_stop_the_next_daemon_starts_again_what_was_running(
    short_tmp: Path, pm_environment: dict[str, str]
) -> None:
    """on-failure (the default) and always restore; never does not; restore: true overrides it;
    a process stopped on purpose stays stopped."""
    first = Kept(short_tmp, pm_environment)
    try:
        for name, fields in (
            ("web", {}),
            ("batch", {"restart": "never"}),
            ("pinned", {"restart": "never", "restore": True}),
            ("idle", {}),
        ):
            request = StartProcess(name=name, command=PYTHON, args=["-u", "-c", COUNTER], cwd="/", **fields)
            first.call(request)
        first.call(StopProcess(name="idle"))
    finally:
        first.stop()

    second = Kept(short_tmp, pm_environment)
    try:
        states = {record.name: record.state for record in second.call(ListProcesses()).processes}  # type: ignore[attr-defined]
        wait_until(
            lambda: (
                record_of(second, "web").state is ProcessState.RUNNING
                and record_of(second, "pinned").state is ProcessState.RUNNING
            ),
            message="the processes that were running to run again",
        )
        assert record_of(second, "batch").state is ProcessState.STOPPED, states
        assert record_of(second, "idle").state is ProcessState.STOPPED, states
    finally:
        second.stop()


@pytest.mark.timeout(90)
def test_a_client_given_other_settings_restarts_a_kept_daemon_with_them_and_nothing_stops(
    short_tmp: Path, pm_environment: dict[str, str]
) -> None:
    kept = Kept(short_tmp, pm_environment | {"PM_MAX_PROCESSES": "5"})
    try:
        counter = start(kept, "counter", COUNTER)
        first = kept.daemon_pid()
        changed = make_config(pm_environment | {"PM_MAX_PROCESSES": "7"})

        async def connect() -> tuple[int, dict[str, str]]:
            client = await connect_or_start(changed)
            async with client:
                return client.welcome.daemon_pid, client.welcome.settings

        pid, settings = run_bounded(connect())
        assert pid != first and settings["PM_MAX_PROCESSES"] == "7"
        assert record_of(kept, "counter").pid == counter.pid and not process_is_gone(counter.pid or 0)
        unchanged = make_config(pm_environment)  # says nothing of PM_MAX_PROCESSES: leaves it
        assert run_bounded(connect_pid(unchanged)) == pid
    finally:
        kept.stop()


async def connect_pid(config: Config) -> int:
    client = await connect_or_start(config)
    async with client:
        return client.welcome.daemon_pid


@pytest.mark.timeout(60)
def test_without_a_keeper_an_error_the_difference_explains_says_so(daemon: Daemon) -> None:
    allowed = daemon.environment["PM_ALLOWED_COMMANDS"]
    other = make_config(daemon.environment | {"PM_ALLOWED_COMMANDS": f"{allowed},/usr/sbin"})

    async def refused() -> str:
        client = await connect_or_start(other)
        async with client:
            try:
                await client.call(StartProcess(name="x", command="/usr/sbin/nologin", cwd="/"))
            except PmError as error:
                return error.message
        return ""

    message = run_bounded(refused())
    assert "the running daemon applies other settings than this client: PM_ALLOWED_COMMANDS" in message


@pytest.mark.timeout(90)
def test_a_client_of_another_release_restarts_a_kept_daemon_on_its_code_and_nothing_stops(
    kept: Kept, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = start(kept, "counter", COUNTER)
    first = kept.daemon_pid()
    monkeypatch.setattr(settings_check, "__version__", "99.0.0")  # as if pm-actors were upgraded here

    restarted = run_bounded(connect_pid(kept.config))

    assert restarted != first
    assert record_of(kept, "counter").pid == counter.pid and not process_is_gone(counter.pid or 0)


@pytest.mark.timeout(90)
def test_a_daemon_speaking_another_protocol_is_restarted_once_then_the_difference_is_reported(
    kept: Kept, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = start(kept, "counter", COUNTER)
    first = kept.daemon_pid()
    monkeypatch.setattr(client_module, "PROTOCOL_VERSION", PROTOCOL_VERSION + 1)

    with pytest.raises(DaemonOfOtherRelease) as refused:
        run_bounded(connect_pid(kept.config))

    assert refused.value.welcome.daemon_pid != first  # restarted once, on the same code: still older
    assert "`pm-actors daemon restart`" in refused.value.message
    monkeypatch.undo()
    assert record_of(kept, "counter").pid == counter.pid and not process_is_gone(counter.pid or 0)


@pytest.mark.timeout(90)
def test_daemon_stop_stops_a_daemon_speaking_another_protocol(
    kept: Kept,
    pm_environment: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    daemon_pid = kept.daemon_pid()
    for name, value in pm_environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(client_module, "PROTOCOL_VERSION", PROTOCOL_VERSION + 1)

    assert cli.main(["status"]) == 1
    assert f"the daemon (pid {daemon_pid}, pm-actors" in capsys.readouterr().err
    assert cli.main(["daemon", "stop"]) == 0

    assert f"Daemon stopped (pid {daemon_pid})" in capsys.readouterr().out
    assert kept.keeper.wait(timeout=30) == 0, "the keeper ends with its daemon"
