"""The actor system with real children, a real SQLite file and no socket in between."""

from __future__ import annotations

import concurrent.futures
import threading
from pathlib import Path

import pykka
import pytest

from pm_actors.actors.log_writer import LogWriterActor
from pm_actors.actors.messages import LogBatch
from pm_actors.actors.store import open_read_connection
from pm_actors.api import (
    DeleteProcess,
    GetLogs,
    KillProcess,
    ListProcesses,
    RestartProcess,
    StartProcess,
    StopProcess,
    TailLogs,
)
from pm_actors.errors import (
    AlreadyRunning,
    ForbiddenCommand,
    InvalidArgument,
    LimitReached,
    NotRunning,
    ProcessNotFound,
)
from pm_actors.states import ProcessState
from tests.actors.system_client import SystemClient, make_system, running_system
from tests.helpers import PYTHON, group_is_gone, python_child, wait_until


@pytest.mark.timeout(30)
def test_a_child_that_prints_and_exits_at_once_has_all_its_output_stored_when_it_is_reported_exited(
    client: SystemClient,
) -> None:
    client.start("burst", "import sys\nfor i in range(5000): print('line', i)\nsys.stderr.write('bye')")
    record = client.wait_for_state("burst", ProcessState.EXITED)
    assert record.exit_code == 0 and record.pid is None and record.ended_at is not None
    lines = client.all_lines("burst")
    assert lines == [f"line {i}" for i in range(5000)] + ["bye"]


@pytest.mark.timeout(30)
def test_a_one_mebibyte_line_without_newline_is_stored_not_lost(client: SystemClient) -> None:
    client.start("huge", "import sys\nsys.stdout.write('x' * (1 << 20))")
    client.wait_for_state("huge", ProcessState.EXITED)
    assert "".join(client.all_lines("huge")) == "x" * (1 << 20)


@pytest.mark.timeout(30)
def test_stop_sends_sigterm_to_the_whole_group_and_waits_for_the_end(client: SystemClient) -> None:
    code = (
        "import subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)"
    )
    started = client.start("tree", code)
    assert started.state is ProcessState.RUNNING and started.pid is not None
    wait_until(lambda: client.all_lines("tree") == ["ready"], message="the child to be ready")
    stopped = client.call(StopProcess(name="tree"))
    assert stopped.state is ProcessState.STOPPED
    assert stopped.exit_signal == "SIGTERM" and stopped.end_reason == "stopped on request"
    process_group = started.pid
    wait_until(lambda: group_is_gone(process_group), message="the grandchild to be gone too")


@pytest.mark.timeout(30)
def test_a_child_that_ignores_sigterm_is_killed_after_the_stop_timeout(client: SystemClient) -> None:
    code = (
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('armed')\ntime.sleep(60)"
    )
    started = client.start("stubborn", code)
    wait_until(lambda: client.all_lines("stubborn") == ["armed"], message="the handler to be installed")
    stopped = client.call(StopProcess(name="stubborn", timeout_s=0.2))
    assert stopped.state is ProcessState.STOPPED and stopped.exit_signal == "SIGKILL"
    assert "SIGKILL after the stop timeout" in (stopped.end_reason or "")
    process_group = started.pid
    assert process_group is not None
    wait_until(lambda: group_is_gone(process_group), message="the group to be gone")


@pytest.mark.timeout(30)
def test_kill_sends_the_named_signal_and_answers_once_the_process_ended(client: SystemClient) -> None:
    client.start("victim", "import time\ntime.sleep(60)")
    killed = client.call(KillProcess(name="victim", signal="SIGINT"))
    assert killed.state is ProcessState.STOPPED
    with pytest.raises(NotRunning):
        client.call(KillProcess(name="victim"))


@pytest.mark.timeout(30)
def test_a_crash_is_recorded_with_its_exit_code(client: SystemClient) -> None:
    client.start("crasher", "import sys\nprint('oops', file=sys.stderr)\nsys.exit(3)", restart="never")
    record = client.wait_for_state("crasher", ProcessState.CRASHED)
    assert record.exit_code == 3 and record.end_reason == "exited on its own with code 3"
    tail = client.call(TailLogs(name="crasher"))
    assert [(line.stream, line.text) for line in tail.lines] == [("stderr", "oops")]


@pytest.mark.timeout(30)
def test_starting_an_active_name_is_refused_and_restart_runs_it_again(client: SystemClient) -> None:
    first = client.start("web", "import time\ntime.sleep(60)")
    with pytest.raises(AlreadyRunning):
        client.start("web", "pass")
    restarted = client.call(RestartProcess(name="web"))
    assert restarted.state is ProcessState.RUNNING and restarted.restarts == 1
    assert restarted.pid != first.pid and restarted.run_id != first.run_id


@pytest.mark.timeout(30)
def test_an_ended_name_takes_a_new_definition_and_delete_forgets_it(client: SystemClient) -> None:
    client.start("job", "print('one')")
    client.wait_for_state("job", ProcessState.EXITED)
    client.start("job", "print('two')", env={"EXTRA": "1"})
    client.wait_for_state("job", ProcessState.EXITED)
    assert client.all_lines("job") == ["one", "two"]
    client.call(DeleteProcess(name="job"))
    with pytest.raises(ProcessNotFound):
        client.call(GetLogs(name="job"))
    assert client.call(ListProcesses()).processes == []


@pytest.mark.timeout(30)
def test_deleting_an_active_process_is_refused(client: SystemClient) -> None:
    client.start("busy", "import time\ntime.sleep(60)")
    with pytest.raises(AlreadyRunning, match="stop_process it before deleting"):
        client.call(DeleteProcess(name="busy"))


@pytest.mark.timeout(30)
def test_one_more_than_the_maximum_active_processes_is_refused(pm_environment: dict[str, str]) -> None:
    with running_system(pm_environment, PM_MAX_PROCESSES="2") as client:
        client.start("a", "import time\ntime.sleep(60)")
        client.start("b", "import time\ntime.sleep(60)")
        with pytest.raises(LimitReached, match="PM_MAX_PROCESSES"):
            client.start("c", "pass")


@pytest.mark.timeout(30)
def test_unknown_names_are_not_found(client: SystemClient) -> None:
    for request in (StopProcess(name="ghost"), GetLogs(name="ghost"), DeleteProcess(name="ghost")):
        with pytest.raises(ProcessNotFound, match="'ghost'"):
            client.call(request)


@pytest.mark.timeout(40)
def test_shutdown_stops_every_child_in_parallel_and_leaves_no_process_behind(
    pm_environment: dict[str, str],
) -> None:
    system = make_system(pm_environment)
    client = SystemClient(system)
    pids = [client.start(f"sleeper{i}", "import time\ntime.sleep(60)").pid for i in range(5)]
    system.shutdown()
    wait_until(
        lambda: all(pid is not None and group_is_gone(pid) for pid in pids), message="every group gone"
    )


@pytest.mark.timeout(30)
def test_definitions_survive_a_restart_of_the_actor_system(pm_environment: dict[str, str]) -> None:
    system = make_system(pm_environment)
    SystemClient(system).start("keep", "print('kept')")
    SystemClient(system).wait_for_state("keep", ProcessState.EXITED)
    # restore=False: what the stop recorded is shown, not a run restored by the next daemon.
    SystemClient(system).start("server", "import time\ntime.sleep(60)", restore=False)
    SystemClient(system).call(RestartProcess(name="server"))
    system.shutdown()
    system = make_system(pm_environment)
    try:
        client = SystemClient(system)
        record = client.record("keep")
        assert record.state is ProcessState.EXITED and record.exit_code == 0
        assert client.all_lines("keep") == ["kept"]
        stopped = client.record("server")
        assert stopped.state is ProcessState.STOPPED and stopped.exit_signal == "SIGTERM"
        assert stopped.end_reason == "stopped because the daemon is shutting down"
        assert stopped.restarts == 1, "the restart count outlives the daemon"
    finally:
        system.shutdown()


@pytest.mark.timeout(30)
def test_a_child_that_handles_the_stop_signal_and_exits_non_zero_counts_as_stopped(
    client: SystemClient,
) -> None:
    code = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGINT, lambda *_: sys.exit(1))\n"
        "print('armed', flush=True)\ntime.sleep(60)"
    )
    client.start("graceful", code, restart="on-failure")
    wait_until(lambda: client.all_lines("graceful") == ["armed"], message="the handler to be installed")
    ended = client.call(KillProcess(name="graceful", signal="SIGINT"))
    assert ended.state is ProcessState.STOPPED and ended.exit_code == 1
    assert ended.end_reason == "ended after SIGINT sent on request (exit code 1)"


@pytest.mark.timeout(30)
def test_a_signal_the_child_handles_leaves_it_running(client: SystemClient) -> None:
    code = (
        "import signal, time\n"
        "signal.signal(signal.SIGUSR1, lambda *_: print('reloaded', flush=True))\n"
        "print('armed', flush=True)\ntime.sleep(60)"
    )
    client.start("reloader", code)
    wait_until(lambda: client.all_lines("reloader") == ["armed"], message="the handler to be installed")
    record = client.call(KillProcess(name="reloader", signal="SIGUSR1"))
    assert record.state is ProcessState.RUNNING
    wait_until(lambda: client.all_lines("reloader") == ["armed", "reloaded"], message="the reload")


@pytest.mark.timeout(30)
def test_a_loader_variable_is_refused_at_start_and_at_restart(client: SystemClient) -> None:
    with pytest.raises(ForbiddenCommand, match="LD_PRELOAD"):
        client.start("injected", "pass", env={"LD_PRELOAD": "/tmp/evil.so"})
    client.start("plain", "import time\ntime.sleep(60)")
    with pytest.raises(ForbiddenCommand, match="LD_AUDIT"):
        client.call(RestartProcess(name="plain", env={"LD_AUDIT": "/tmp/evil.so"}))
    assert client.record("plain").state is ProcessState.RUNNING


@pytest.mark.timeout(30)
def test_a_start_without_a_working_directory_is_refused_the_daemon_never_guesses_it(
    client: SystemClient,
) -> None:
    with pytest.raises(InvalidArgument, match="`cwd`"):
        client.call(StartProcess(name="nowhere", command=PYTHON, args=["-c", "pass"]))
    assert client.call(ListProcesses()).processes == []


@pytest.mark.timeout(30)
def test_start_process_answers_only_once_its_run_is_committed(
    client: SystemClient, pm_environment: dict[str, str]
) -> None:
    writer = pykka.ActorRegistry.get_by_class(LogWriterActor)[0]
    holding, release = threading.Event(), threading.Event()

    def hold_the_writer() -> None:  # runs on the writer's thread, which waits here
        holding.set()
        release.wait(10)

    writer.tell(LogBatch(0, 0, [], on_committed=hold_the_writer))
    assert holding.wait(10)
    command, args = python_child("import time; time.sleep(60)")
    answer = client.system.submit(StartProcess(name="svc", command=command, args=args, cwd="/"))
    with pytest.raises(concurrent.futures.TimeoutError):  # the run cannot be on disk yet
        answer.result(timeout=0.5)
    release.set()
    record = answer.result(timeout=10)
    connection = open_read_connection(Path(pm_environment["PM_DATABASE_PATH"]))
    try:
        rows = connection.execute("SELECT pid FROM runs WHERE id = ?", (record.run_id,)).fetchall()
    finally:
        connection.close()
    assert rows == [(record.pid,)]
