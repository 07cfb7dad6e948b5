"""The `pm-actors` command line, run as a person runs it: real processes of `pm-actors`, a real
daemon, real children; output read from a pipe (so: plain text, no colour)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from pm_actors import __version__
from pm_actors.api import ListProcesses, StartProcess
from pm_actors.states import ProcessState
from tests.daemon_support import Daemon, DaemonLauncher, run_cli
from tests.helpers import PYTHON, process_is_gone, wait_until

TICKER = "import time\nfor i in range(100000):\n    print('tick', i, flush=True)\n    time.sleep(0.05)"


def pm(daemon: Daemon, *arguments: str, **environment: str) -> subprocess.CompletedProcess[str]:
    return run_cli(daemon.environment | environment, daemon.log_path.parent, *arguments)


@pytest.mark.timeout(60)
def test_start_ps_logs_stop_rm_through_the_command_line(daemon: Daemon) -> None:
    started = pm(daemon, "start", "ticker", "-e", "MODE=cli", "--", PYTHON, "-u", "-c", TICKER)
    assert started.returncode == 0, started.stderr
    assert started.stdout.startswith("ticker: running (pid ")
    assert pm(daemon, "wait", "ticker", "--line", "tick 3").returncode == 0

    listed = pm(daemon, "ps")
    header, row = listed.stdout.splitlines()
    assert header.split()[:4] == ["NAME", "STATE", "PID", "UPTIME"] and row.split()[:2] == [
        "ticker",
        "running",
    ]
    assert "\x1b[" not in listed.stdout, "no colour into a pipe"

    records = json.loads(pm(daemon, "ps", "--json").stdout)
    assert records[0]["record"]["name"] == "ticker" and records[0]["stats"]["rss_mb"] > 0

    logs = pm(daemon, "logs", "ticker", "-n", "3").stdout.splitlines()
    assert len(logs) == 3 and all(line.startswith("tick ") for line in logs)

    stopped = pm(daemon, "stop", "ticker")
    assert stopped.returncode == 0 and "ticker: stopped" in stopped.stdout
    assert pm(daemon, "rm", "ticker").returncode == 0
    assert daemon.call(ListProcesses()).processes == []


@pytest.mark.timeout(60)
def test_ps_says_why_a_process_crashed_in_a_few_words(daemon: Daemon) -> None:
    code = "import flask_never_installed_here"
    daemon.call(StartProcess(name="web", command=PYTHON, args=["-c", code], cwd="/", restart="never"))
    wait_until(
        lambda: [record.crash for record in daemon.call(ListProcesses()).processes] != [None],
        message="the crash to be explained",
    )
    _, row = pm(daemon, "ps").stdout.splitlines()
    assert row.split()[:2] == ["web", "crashed"]
    assert "ModuleNotFoundError: No module named" in row  # in LAST, not "exited on its own with code 1"


@pytest.mark.timeout(60)
def test_errors_lists_what_crashed_and_resolve_marks_it(daemon: Daemon) -> None:
    code = "import flask_never_installed_here"
    daemon.call(StartProcess(name="web", command=PYTHON, args=["-c", code], cwd="/", restart="never"))
    wait_until(lambda: "module_not_found" in pm(daemon, "errors").stdout, message="the error to be found")
    overview = pm(daemon, "errors").stdout
    assert overview.startswith("1 unresolved errors. Occurrences by category: module_not_found 1")
    assert "ModuleNotFoundError: No module named 'flask_never_installed_here'" in overview

    listed = json.loads(pm(daemon, "errors", "web", "--json").stdout)
    [error] = listed["errors"]
    assert error["name"] == "web" and error["category"] == "module_not_found"
    assert pm(daemon, "errors", "web", "--category", "port_in_use").stdout.strip() == "No errors found."

    resolved = pm(daemon, "resolve", str(error["id"]), "--note", "installed flask")
    assert resolved.returncode == 0 and "RESOLVED at" in resolved.stdout
    assert "installed flask" in pm(daemon, "errors", "--resolved").stdout
    assert pm(daemon, "errors", "--unresolved").stdout.strip() == "No errors found."
    assert pm(daemon, "errors").stdout.startswith("0 unresolved errors")

    unknown = pm(daemon, "resolve", "999")
    assert unknown.returncode == 1 and "not_found" in unknown.stderr


ALARM = (
    "import time\nfor i in range(100000):\n"
    "    print(('ERROR ' if i % 3 == 0 else 'ok ') + str(i), flush=True)\n    time.sleep(0.05)"
)


@pytest.mark.timeout(60)
def test_logs_grep_and_since_show_only_those_lines_and_follow_keeps_filtering(daemon: Daemon) -> None:
    assert pm(daemon, "start", "alarm", "--", PYTHON, "-u", "-c", ALARM).returncode == 0
    assert pm(daemon, "wait", "alarm", "--line", "ok 8").returncode == 0

    errors = pm(daemon, "logs", "alarm", "--grep", "^ERROR [0-9]+$", "-n", "2").stdout.splitlines()
    assert len(errors) == 2 and all(line.startswith("ERROR ") for line in errors)
    assert int(errors[0].split()[1]) < int(errors[1].split()[1]), "oldest first, as printed"
    assert len(pm(daemon, "logs", "alarm", "--since", "1h", "-n", "5").stdout.splitlines()) == 5
    assert pm(daemon, "logs", "alarm", "--since", "2999-01-01T00:00:00Z").stdout == ""
    bad = pm(daemon, "logs", "alarm", "--grep", "(")
    assert bad.returncode == 2 and "not a regular expression" in bad.stderr

    follower = subprocess.Popen(
        [PYTHON, "-m", "pm_actors", "logs", "alarm", "-n", "0", "-f", "--grep", "ERROR"],
        env=daemon.environment,
        cwd=daemon.log_path.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert follower.stdout is not None
        followed = [follower.stdout.readline() for _ in range(3)]
        assert all(line.startswith("ERROR ") for line in followed), followed
    finally:
        follower.kill()
        follower.wait()


@pytest.mark.timeout(60)
def test_the_person_sees_and_stops_a_process_an_agent_started(daemon: Daemon) -> None:
    """Same daemon, same processes: what came in over the socket (as the MCP shim does) is
    listed and stopped from the command line."""
    from pm_actors.api import StartProcess

    record = daemon.call(StartProcess(name="agents", command=PYTHON, args=["-u", "-c", TICKER], cwd="/"))
    assert "agents" in pm(daemon, "ps").stdout
    assert pm(daemon, "stop", "--all").returncode == 0
    assert daemon.call(ListProcesses()).processes[0].state is ProcessState.STOPPED
    assert record.pid is not None and process_is_gone(record.pid)


@pytest.mark.timeout(60)
def test_exit_codes_say_ok_failure_and_usage(daemon: Daemon) -> None:
    assert pm(daemon, "--version").stdout.strip() == f"pm-actors {__version__}"
    missing = pm(daemon, "stop", "ghost")
    assert missing.returncode == 1
    assert (
        "ghost: not_found: no process named 'ghost'" in missing.stderr and "Traceback" not in missing.stderr
    )
    assert pm(daemon, "stop").returncode == 2
    assert pm(daemon, "stop", "--all", "web").returncode == 2
    assert pm(daemon, "no-such-command").returncode == 2
    assert pm(daemon, "start", "x", "-e", "NOEQUALS", "--", PYTHON).returncode == 2
    refused = pm(daemon, "start", "shell", "--", "/bin/sh", "-c", "true")
    assert refused.returncode == 1 and "forbidden_command" in refused.stderr
    assert "Traceback" not in refused.stderr


@pytest.mark.timeout(60)
def test_status_names_the_daemon_and_daemon_stop_stops_it(daemon: Daemon) -> None:
    status = pm(daemon, "status")
    assert status.returncode == 0
    assert f"pid {daemon.pid}" in status.stdout and str(daemon.config.database_path) in status.stdout
    assert json.loads(pm(daemon, "status", "--json").stdout)["pid"] == daemon.pid

    stopped = pm(daemon, "daemon", "stop")
    assert stopped.returncode == 0 and f"pid {daemon.pid}" in stopped.stdout
    assert daemon.popen.wait(timeout=20) == 0
    nobody = pm(daemon, "status")
    assert nobody.returncode == 1 and "No daemon is running" in nobody.stdout


@pytest.mark.timeout(60)
def test_daemon_start_runs_one_in_the_background_once(
    short_tmp: Path, pm_environment: dict[str, str]
) -> None:
    def run(*arguments: str) -> subprocess.CompletedProcess[str]:
        return run_cli(pm_environment, short_tmp, *arguments)

    started = run("daemon", "start")
    assert started.returncode == 0 and "Daemon started (pid " in started.stdout
    pid = int(started.stdout.split("pid ")[1].split(")")[0])
    try:
        again = run("daemon", "start")
        assert again.returncode == 0 and f"already running (pid {pid})" in again.stdout
    finally:
        stop = run("daemon", "stop")
        if stop.returncode != 0:
            os.kill(pid, 9)
    wait_until(lambda: process_is_gone(pid), message="the background daemon to exit")


@pytest.mark.timeout(90)
def test_daemon_restart_hands_every_process_to_a_new_daemon_with_new_settings(
    short_tmp: Path, pm_environment: dict[str, str]
) -> None:
    def run(*arguments: str, **settings: str) -> subprocess.CompletedProcess[str]:
        return run_cli(pm_environment | settings, short_tmp, *arguments)

    started = run("daemon", "start")
    first = int(started.stdout.split("pid ")[1].split(")")[0])
    keeper = psutil.Process(first).ppid()
    try:
        assert run("start", "stamper", "--", PYTHON, "-u", "-c", STAMPER).returncode == 0
        child = json.loads(run("ps", "--json").stdout)[0]["record"]["pid"]

        restarted = run("daemon", "restart", PM_MAX_PROCESSES="1")

        assert restarted.returncode == 0, restarted.stderr
        assert (
            f"pid {first} -> " in restarted.stdout and "1 of 1 managed processes running" in restarted.stdout
        )
        assert json.loads(run("ps", "--json").stdout)[0]["record"]["pid"] == child  # the same child runs on
        second = json.loads(run("status", "--json").stdout)["pid"]
        assert second != first and psutil.Process(second).ppid() == keeper
        refused = run("start", "a", "--", PYTHON, "-c", "pass")  # saying nothing of the limit
        assert refused.returncode == 1 and "limit_reached" in refused.stderr, "the new daemon applies it"
    finally:
        run("daemon", "stop")
    wait_until(lambda: process_is_gone(keeper) and process_is_gone(child), message="keeper and child to end")


STAMPER = "import time\nwhile True:\n    print('at', time.time(), flush=True)\n    time.sleep(0.2)"


@pytest.mark.timeout(90)
def test_logs_follow_shows_new_lines_at_once_and_goes_on_after_a_daemon_restart(
    daemons: DaemonLauncher, short_tmp: Path
) -> None:
    daemon = daemons.start()
    assert pm(daemon, "start", "stamper", "--", PYTHON, "-u", "-c", STAMPER).returncode == 0
    follower = subprocess.Popen(
        [PYTHON, "-m", "pm_actors", "logs", "stamper", "-n", "1", "-f"],
        env=daemon.environment,
        cwd=short_tmp,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert follower.stdout is not None
        delays = []
        for _ in range(8):
            line = follower.stdout.readline()
            delays.append(time.time() - float(line.split()[1]))
        assert max(delays[1:]) < 1.0, delays  # shown as they come (measured: well under 0.1 s)

        daemon.terminate()
        daemons.start()  # which restores stamper: it was running when the daemon stopped
        after = float(follower.stdout.readline().split()[1])
        assert time.time() - after < 5.0, "the follower goes on with the new daemon"
    finally:
        follower.kill()
        follower.wait()
