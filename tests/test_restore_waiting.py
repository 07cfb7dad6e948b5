"""A daemon that ends while a process waits in backoff, has given up on one (fatal), or was
told to stop one that waited: the next daemon carries on as the last would have."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import apsw
import pytest

from pm_actors.api import ListProcesses, StartProcess, StopProcess
from pm_actors.results import ProcessRecord
from pm_actors.specs import Backoff
from pm_actors.states import ProcessState
from tests.daemon_support import Daemon, DaemonLauncher
from tests.helpers import PYTHON, wait_until

FAILS_ONCE = """
import pathlib, sys, time
marker = pathlib.Path(sys.argv[1])
if not marker.exists():
    marker.write_text("failed once")
    sys.exit("first run fails")
print("second run up", flush=True)
time.sleep(600)
"""
LONG_BACKOFF = Backoff(initial_s=600, max_s=600, jitter=0)
"""Far longer than the test: only a restarted daemon can start it again."""


def records(daemon: Daemon) -> dict[str, ProcessRecord]:
    return {record.name: record for record in daemon.call(ListProcesses()).processes}


def start_failing(daemon: Daemon, name: str, marker: Path, max_restarts: int = 5) -> None:
    daemon.call(
        StartProcess(
            name=name,
            command=PYTHON,
            args=["-c", FAILS_ONCE, str(marker)],
            cwd="/",
            restart="on-failure",
            max_restarts=max_restarts,
            backoff=LONG_BACKOFF,
        )
    )


def supervision_stored(daemon: Daemon) -> Callable[[], bool]:
    """Whether the database holds what supervision decided for the three (before a SIGKILL)."""

    def stored() -> bool:
        connection = apsw.Connection(str(daemon.config.database_path), flags=apsw.SQLITE_OPEN_READONLY)
        try:
            rows = connection.execute("SELECT supervision FROM runs WHERE supervision IS NOT NULL")
            decisions = sorted(str(supervision) for (supervision,) in rows)
        finally:
            connection.close()
        return decisions == ["backoff", "fatal", "stopped"]

    return stored


def in_state(daemon: Daemon, name: str, state: ProcessState) -> Callable[[], bool]:
    return lambda: records(daemon)[name].state is state


@pytest.mark.timeout(60)
@pytest.mark.parametrize("ending", ["kill", "terminate"])
def test_the_next_daemon_restarts_what_waited_in_backoff_and_keeps_fatal_and_stopped(
    daemons: DaemonLauncher, short_tmp: Path, ending: str
) -> None:
    daemon = daemons.start()
    start_failing(daemon, "waiting", short_tmp / "waiting")
    start_failing(daemon, "given-up", short_tmp / "given-up", max_restarts=0)
    start_failing(daemon, "stopped", short_tmp / "stopped")
    for name, state in (("waiting", "backoff"), ("given-up", "fatal"), ("stopped", "backoff")):
        wait_until(in_state(daemon, name, ProcessState(state)), message=f"{name} to be in {state}")
    daemon.call(StopProcess(name="stopped"))
    fatal_reason = records(daemon)["given-up"].end_reason
    wait_until(supervision_stored(daemon), message="backoff, fatal and the stop to be stored")

    daemon.kill() if ending == "kill" else daemon.terminate()
    successor = daemons.start()

    wait_until(in_state(successor, "waiting", ProcessState.RUNNING), message="the restart that was due")
    after = records(successor)
    assert after["waiting"].restarts == 1  # its restart, due when the last daemon ended
    assert after["given-up"].state is ProcessState.FATAL
    assert after["given-up"].end_reason == fatal_reason
    assert after["stopped"].state is ProcessState.STOPPED


STUBBORN = (
    "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('up', flush=True)\ntime.sleep(600)"
)


@pytest.mark.timeout(60)
def test_a_process_killed_at_the_stop_timeout_of_a_shutdown_is_started_again(
    daemons: DaemonLauncher,
) -> None:
    """Its end reads "stopped because the daemon is shutting down (SIGKILL after the stop
    timeout)": still the daemon's shutdown, not a stop the person asked for."""
    daemon = daemons.start()
    daemon.call(
        StartProcess(name="stubborn", command=PYTHON, args=["-c", STUBBORN], cwd="/", stop_timeout_s=0.5)
    )
    wait_until(in_state(daemon, "stubborn", ProcessState.RUNNING), message="stubborn to run")
    daemon.terminate()
    successor = daemons.start()
    wait_until(in_state(successor, "stubborn", ProcessState.RUNNING), message="stubborn to be restored")
