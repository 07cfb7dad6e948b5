"""Every descendant is stopped with its process, on a real daemon: a grandchild that called
setsid, the end of a double fork and a daemonised grandchild are gone after stop_process,
kill_process, a daemon shutdown, the end of their leader, and a daemon killed with -9 then
replaced. They are not the test's children, so each is checked gone by its pid."""

from __future__ import annotations

import re

import pytest

from pm_actors.api import KillProcess, ListProcesses, StartProcess, StopProcess, WaitFor
from pm_actors.states import ProcessState
from tests.daemon_support import Daemon, DaemonLauncher, SyncClient, all_lines, wait_gone
from tests.helpers import PYTHON, process_is_gone

SETSID_GRANDCHILD = """
import os, time
pid = os.fork()
if pid == 0:
    os.setsid()
    time.sleep(60)
    os._exit(0)
print("escaped", pid, flush=True)
time.sleep(60)
"""

DOUBLE_FORK = """
import os, time
read_end, write_end = os.pipe()
middle = os.fork()
if middle == 0:
    if os.fork() == 0:
        os.write(write_end, str(os.getpid()).encode())
        time.sleep(60)
    os._exit(0)
os.waitpid(middle, 0)
print("escaped", os.read(read_end, 32).decode(), flush=True)
time.sleep(60)
"""

DAEMONISED = """
import os, time
read_end, write_end = os.pipe()
middle = os.fork()
if middle == 0:
    os.setsid()
    if os.fork() == 0:
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.write(write_end, str(os.getpid()).encode())
        time.sleep(60)
    os._exit(0)
os.waitpid(middle, 0)
print("escaped", os.read(read_end, 32).decode(), flush=True)
time.sleep({leader_s})
"""

ESCAPES = {
    "setsid": SETSID_GRANDCHILD,
    "double-fork": DOUBLE_FORK,
    "daemonised": DAEMONISED.format(leader_s=60),
}


def start_escapes(client: SyncClient) -> dict[str, int]:
    """Start one process per way of escaping; the pid of each escaped descendant, by name."""
    escaped = {}
    for name, code in ESCAPES.items():
        client.call(
            StartProcess(name=name, command=PYTHON, args=["-u", "-c", code], cwd="/", stop_timeout_s=5)
        )
        result = client.call(WaitFor(name=name, until="log_line", pattern=r"^escaped \d+", timeout_s=20))
        assert result.matched_line is not None, f"{name} never said which pid escaped"
        match = re.search(r"\d+", result.matched_line.text)
        assert match is not None
        escaped[name] = int(match[0])
    assert not any(process_is_gone(pid) for pid in escaped.values())
    return escaped


@pytest.mark.timeout(60)
def test_stop_process_stops_every_descendant_wherever_it_went(daemon: Daemon) -> None:
    with daemon.client() as client:
        escaped = start_escapes(client)
        for name in escaped:
            assert client.call(StopProcess(name=name)).state is ProcessState.STOPPED
    wait_gone(list(escaped.values()), "the escaped descendants", process_is_gone)


@pytest.mark.timeout(60)
def test_kill_process_kills_every_descendant_wherever_it_went(daemon: Daemon) -> None:
    with daemon.client() as client:
        escaped = start_escapes(client)
        for name in escaped:
            client.call(KillProcess(name=name))
    wait_gone(list(escaped.values()), "the escaped descendants", process_is_gone)


@pytest.mark.timeout(60)
def test_a_daemon_shutdown_stops_every_descendant_wherever_it_went(daemon: Daemon) -> None:
    with daemon.client() as client:
        escaped = start_escapes(client)
    daemon.terminate()
    wait_gone(list(escaped.values()), "the escaped descendants", process_is_gone)


@pytest.mark.timeout(60)
def test_a_daemon_left_behind_by_a_process_that_ended_on_its_own_is_stopped_with_it(daemon: Daemon) -> None:
    with daemon.client() as client:
        code = DAEMONISED.format(leader_s=0)
        client.call(StartProcess(name="launcher", command=PYTHON, args=["-u", "-c", code], cwd="/"))
        result = client.call(WaitFor(name="launcher", until="exited", timeout_s=20))
        assert result.state is ProcessState.EXITED
        pids = [int(text.split()[1]) for text in all_lines(client, "launcher") if text.startswith("escaped")]
    assert len(pids) == 1
    wait_gone(pids, "the daemonised grandchild", process_is_gone)


@pytest.mark.timeout(90)
def test_a_new_daemon_kills_what_the_runs_of_a_killed_one_left_even_outside_their_groups(
    daemons: DaemonLauncher,
) -> None:
    first = daemons.start()
    with first.client() as client:
        escaped = start_escapes(client)
        leaders = [record.pid for record in client.call(ListProcesses()).processes]
    first.kill()
    assert not any(process_is_gone(pid) for pid in escaped.values()), "kill -9 stops nothing by itself"
    second = daemons.start()
    wait_gone(list(escaped.values()) + leaders, "what the killed daemon's runs left", process_is_gone)
    assert second.popen.poll() is None
