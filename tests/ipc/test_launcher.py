from __future__ import annotations

import asyncio
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from pm_actors.api import ListProcesses
from pm_actors.config import Config
from pm_actors.errors import DaemonUnavailable
from pm_actors.ipc import launcher
from pm_actors.ipc.client import NoDaemonListening
from pm_actors.ipc.launcher import connect_or_start
from pm_actors.results import ProcessList
from tests.ipc.support import FakeActors, make_config, run, running_server

FAKE_DAEMON = [sys.executable, str(Path(__file__).with_name("fake_daemon.py"))]
IDLE_DAEMON = [sys.executable, "-c", "import signal; signal.pause()"]
"""A daemon that starts but never listens."""

DAEMON_STOP_TIMEOUT_S = 10.0
"""A fake daemon stops within milliseconds of SIGTERM; this only bounds a broken one."""


@pytest.fixture
def environment(pm_environment: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The PM_* variables in os.environ as well: the launcher hands its own environment to the
    daemon, as the shim does. The token is left to the daemon's token file."""
    del pm_environment["PM_DAEMON_TOKEN"]
    monkeypatch.delenv("PM_DAEMON_TOKEN", raising=False)
    for name, value in pm_environment.items():
        monkeypatch.setenv(name, value)
    return pm_environment


@pytest.fixture
def launched(environment: dict[str, str]) -> Iterator[Config]:
    """The config of a test that may start daemons; every daemon it started is stopped and reaped."""
    try:
        yield make_config(environment)
    finally:
        for daemon in launcher._started_daemons:
            if daemon.poll() is None:
                daemon.terminate()
            daemon.wait(timeout=DAEMON_STOP_TIMEOUT_S)
        launcher._started_daemons.clear()


def test_with_auto_start_off_and_no_daemon_it_says_to_run_pm_actors_daemon(launched: Config) -> None:
    config = msgspec.structs.replace(launched, daemon_auto_start=False)
    with pytest.raises(NoDaemonListening) as caught:
        run(connect_or_start(config, command=FAKE_DAEMON))
    assert "`pm-actors daemon`" in caught.value.message
    assert "PM_DAEMON_AUTO_START=false" in caught.value.message
    assert not launcher._started_daemons


def test_a_daemon_that_answers_is_used_without_starting_another(launched: Config) -> None:
    config = msgspec.structs.replace(launched, daemon_token="a-token-of-some-length")
    actors = FakeActors()

    async def scenario() -> None:
        async with (
            running_server(config, actors),
            await connect_or_start(config, command=FAKE_DAEMON) as client,
        ):
            assert client.welcome.daemon_pid == os.getpid()

    try:
        run(scenario())
    finally:
        actors.close()
    assert not launcher._started_daemons


def test_with_no_daemon_it_starts_one_detached_and_connects(launched: Config) -> None:
    async def scenario() -> int:
        async with await connect_or_start(launched, command=FAKE_DAEMON) as client:
            assert await client.call(ListProcesses()) == ProcessList(processes=[])
            return client.welcome.daemon_pid

    daemon_pid = run(scenario())
    assert daemon_pid != os.getpid()
    assert os.getsid(daemon_pid) == daemon_pid  # its own session, away from the shim's terminal
    assert stat.S_IMODE(launched.token_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(launched.daemon_log_path.stat().st_mode) == 0o600


def test_two_launchers_racing_end_up_on_one_daemon(launched: Config) -> None:
    async def scenario() -> set[int]:
        clients = await asyncio.gather(
            connect_or_start(launched, command=FAKE_DAEMON),
            connect_or_start(launched, command=FAKE_DAEMON),
        )
        for client in clients:
            assert await client.call(ListProcesses()) == ProcessList(processes=[])
            await client.close()
        return {client.welcome.daemon_pid for client in clients}

    assert len(run(scenario())) == 1


def test_a_daemon_that_exits_early_is_reported_with_its_log(
    launched: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_DAEMON_FAIL", "1")
    with pytest.raises(DaemonUnavailable) as caught:
        run(connect_or_start(launched, command=FAKE_DAEMON))
    message = caught.value.message
    assert "exited with code 3" in message
    assert "fake daemon: refusing to start on purpose" in message
    assert str(launched.daemon_log_path) in message


def test_a_daemon_that_never_answers_is_reported_at_the_deadline(
    launched: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(launcher, "AUTO_START_TIMEOUT_S", 0.5)
    with pytest.raises(DaemonUnavailable, match=r"did not answer within 0\.5 s: no daemon is listening"):
        run(connect_or_start(launched, command=IDLE_DAEMON))
