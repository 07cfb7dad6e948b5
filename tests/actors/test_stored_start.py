"""start_process with a name alone starts the stored definition again, with all its settings; a
start with a new command says what the definition it replaces loses. Real children, real file."""

from __future__ import annotations

import pytest

from pm_actors.api import ConfigureProcess, StartProcess, StopProcess, WaitFor
from pm_actors.errors import AlreadyRunning, InvalidArgument, ProcessNotFound
from pm_actors.results import StartedProcess
from pm_actors.specs import Backoff, Limits, TcpCheck
from pm_actors.states import ProcessState
from tests.actors.system_client import SystemClient
from tests.helpers import PYTHON

SLEEPER = "import time\nprint('up', flush=True)\ntime.sleep(60)"
CHECK = TcpCheck(port=9, interval_ms=60_000)


@pytest.mark.timeout(30)
def test_a_name_alone_starts_the_stored_definition_with_its_settings(client: SystemClient) -> None:
    client.start(
        "api",
        SLEEPER,
        env={"MODE": "test"},
        restart="never",
        health_check=CHECK,
        limits=Limits(max_memory_mb=512),
        stop_timeout_s=3,
    )
    client.call(StopProcess(name="api"))

    again: StartedProcess = client.call(StartProcess(name="api"))

    assert again.state is ProcessState.RUNNING and again.dropped == []
    info = client.info("api")
    assert (info.restart, info.health_check, info.limits.max_memory_mb) == ("never", CHECK, 512)
    assert (info.env, info.stop_timeout_s, info.args) == ({"MODE": "test"}, 3, ["-u", "-c", SLEEPER])
    assert client.call(WaitFor(name="api", until="log_line", pattern="up", timeout_s=10)).satisfied


@pytest.mark.timeout(30)
def test_a_start_with_a_new_command_names_the_settings_it_dropped(client: SystemClient) -> None:
    client.start("api", SLEEPER, restart="never", health_check=CHECK, backoff=Backoff(initial_s=2))
    client.call(ConfigureProcess(name="api", stop_timeout_s=1))
    client.call(StopProcess(name="api"))

    replaced: StartedProcess = client.call(
        StartProcess(name="api", command=PYTHON, args=["-u", "-c", SLEEPER], cwd="/", stop_timeout_s=5)
    )

    # The stop timeout was given anew (a change, not a loss); on-failure is the default restart.
    assert replaced.dropped == ["restart", "backoff", "health_check"]
    assert "dropped from the previous definition: " in replaced.summary()
    assert client.info("api").health_check is None


@pytest.mark.timeout(30)
def test_a_name_alone_is_refused_when_unknown_active_or_given_other_fields(client: SystemClient) -> None:
    with pytest.raises(ProcessNotFound, match=r"no process named 'ghost' is stored.*give `command`"):
        client.call(StartProcess(name="ghost"))
    client.start("api", SLEEPER)
    with pytest.raises(AlreadyRunning, match="already running"):
        client.call(StartProcess(name="api"))
    with pytest.raises(InvalidArgument, match="invalid argument `args`: start_process with `name` alone"):
        client.call(StartProcess(name="api", args=["-V"]))


@pytest.mark.timeout(30)
def test_wait_for_running_and_the_last_lines_of_a_process_that_exited(client: SystemClient) -> None:
    client.start("once", "print('migrated 3 tables')")
    exited = client.call(WaitFor(name="once", until="exited", timeout_s=10))
    assert exited.satisfied and [line.text for line in exited.last_lines] == ["migrated 3 tables"]
    client.start("api", SLEEPER)
    running = client.call(WaitFor(name="api", until="running", timeout_s=10))
    assert running.satisfied and running.state is ProcessState.RUNNING and running.last_lines == []
