"""Supervision with real children: restart policy and backoff, health checks, resource limits,
readiness waits, stats and info, through the actor system (no socket in between)."""

from __future__ import annotations

import itertools
import socket
from typing import Any

import pytest

from pm_actors.api import (
    CheckProcessHealth,
    ConfigureProcess,
    GetProcessStats,
    GetSystemStats,
    RestartProcess,
    StartProcess,
    StopProcess,
    WaitFor,
)
from pm_actors.errors import ForbiddenCommand, InvalidArgument, NotRunning
from pm_actors.specs import Backoff, CommandCheck, HttpCheck, Limits
from pm_actors.states import Health, ProcessState
from tests.actors.system_client import SystemClient
from tests.helpers import PYTHON, wait_until

FAST_BACKOFF = Backoff(initial_s=0.05, multiplier=2.0, max_s=1.0, jitter=0.0, stable_after_s=30.0)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.timeout(30)
def test_a_child_that_fails_at_once_is_retried_with_growing_delays_then_fatal(client: SystemClient) -> None:
    code = "import sys, time\nprint('run at', time.monotonic())\nsys.exit(1)"
    client.start("flaky", code, restart="on-failure", max_restarts=3, backoff=FAST_BACKOFF)
    info = wait_until(
        lambda: (info := client.info("flaky")).state is ProcessState.FATAL and info,
        timeout=20,
        message="the process to be given up",
    )
    assert "gave up after 3 restarts in a row" in (info.end_reason or "")
    run_starts = [float(line.split()[-1]) for line in client.all_lines("flaky")]
    assert len(run_starts) == 4, "one run and at most max_restarts restarts"
    gaps = [later - earlier for earlier, later in itertools.pairwise(run_starts)]
    assert all(gap >= delay for gap, delay in zip(gaps, [0.05, 0.1, 0.2], strict=True)), gaps
    assert info.restarts == 3
    assert [run.requested_by for run in info.recent_runs] == ["automatic restart"] * 3 + ["start_process"]
    assert all(run.exit_code == 1 for run in info.recent_runs)


@pytest.mark.timeout(30)
def test_a_run_that_lasts_the_stable_period_resets_the_backoff(client: SystemClient) -> None:
    stable = Backoff(initial_s=0.05, jitter=0.0, stable_after_s=0.2)
    code = "import sys, time\ntime.sleep(0.3)\nsys.exit(1)"
    client.start("steady", code, restart="on-failure", max_restarts=1, backoff=stable)
    wait_until(lambda: client.info("steady").restarts >= 3, timeout=20, message="three restarts")
    assert client.info("steady").state is not ProcessState.FATAL


@pytest.mark.timeout(30)
def test_a_stop_during_backoff_cancels_the_restart(client: SystemClient) -> None:
    slow = Backoff(initial_s=30.0, jitter=0.0)
    client.start("once", "import sys\nsys.exit(2)", restart="always", backoff=slow)
    wait_until(lambda: client.info("once").state is ProcessState.BACKOFF, message="backoff")
    stopped = client.call(StopProcess(name="once"))
    assert stopped.state is ProcessState.STOPPED
    assert client.info("once").next_restart_at is None


HTTP_SERVER = """
import http.server, os, sys
port, flag = int(sys.argv[1]), sys.argv[2]
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if os.path.exists(flag) else 500)
        self.end_headers()
    def log_message(self, *args):
        pass
print('serving', flush=True)
http.server.HTTPServer(('127.0.0.1', port), Handler).serve_forever()
"""


@pytest.mark.timeout(40)
def test_an_http_server_whose_health_check_starts_failing_is_restarted(
    client: SystemClient, short_tmp: Any
) -> None:
    flag = short_tmp / "healthy"
    flag.touch()
    port = free_port()
    check = HttpCheck(url=f"http://127.0.0.1:{port}/", interval_ms=100, failure_threshold=2, timeout_s=1)
    client.call(
        StartProcess(
            name="api",
            command=PYTHON,
            args=["-u", "-c", HTTP_SERVER, str(port), str(flag)],
            cwd="/",
            health_check=check,
            backoff=FAST_BACKOFF,
        )
    )
    healthy = client.call(WaitFor(name="api", until="healthy", timeout_s=20))
    assert healthy.satisfied and client.info("api").health is Health.HEALTHY
    first_run = client.info("api").run_id
    flag.unlink()
    restarted = wait_until(
        lambda: (
            (info := client.info("api")).run_id != first_run and info.state is ProcessState.RUNNING and info
        ),
        timeout=20,
        message="a restart after the check failed",
    )
    assert restarted.restarts >= 1
    report = client.call(CheckProcessHealth(name="api"))
    assert report.name == "api" and report.healthy is False


@pytest.mark.timeout(40)
def test_a_child_that_allocates_past_its_memory_limit_is_restarted_with_that_reason(
    client: SystemClient,
) -> None:
    code = "import time\nhog = bytearray(150 << 20)\nhog[::4096] = b'x' * len(hog[::4096])\ntime.sleep(60)"
    limits = Limits(max_memory_mb=80, window_s=0.3)
    first = client.start("hog", code, limits=limits, restart="never")
    info = wait_until(
        lambda: (info := client.info("hog")).run_id != first.run_id and info,
        timeout=30,
        message="a restart for the memory breach",
    )
    assert info.breaches and info.breaches[0].kind == "memory" and info.breaches[0].enforced
    assert "memory" in (info.end_reason or "") or "memory" in info.breaches[0].detail


@pytest.mark.timeout(30)
def test_wait_for_returns_the_matching_log_line(client: SystemClient) -> None:
    client.start(
        "server", "import time\nprint('booting')\ntime.sleep(0.3)\nprint('READY on 8080')\ntime.sleep(60)"
    )
    result = client.call(WaitFor(name="server", until="log_line", pattern=r"READY on \d+", timeout_s=20))
    assert result.satisfied and result.matched_line is not None
    assert result.matched_line.text == "READY on 8080"


@pytest.mark.timeout(30)
def test_wait_for_a_port_returns_once_the_child_listens(client: SystemClient) -> None:
    code = (
        "import socket, time\ntime.sleep(0.2)\nserver = socket.socket()\nserver.bind(('127.0.0.1', 0))\n"
        "server.listen()\nprint(server.getsockname()[1], flush=True)\ntime.sleep(60)"
    )
    client.start("listener", code)
    result = client.call(WaitFor(name="listener", until="port", timeout_s=20))
    assert result.satisfied and result.port is not None
    assert client.all_lines("listener") == [str(result.port)]
    assert result.port in client.info("listener").listening_ports


@pytest.mark.timeout(30)
def test_wait_for_reports_the_timeout_with_the_last_lines(client: SystemClient) -> None:
    client.start("mute", "import time\nprint('still starting')\ntime.sleep(60)")
    result = client.call(WaitFor(name="mute", until="log_line", pattern="never printed", timeout_s=0.3))
    assert not result.satisfied and [line.text for line in result.last_lines] == ["still starting"]


@pytest.mark.timeout(30)
def test_wait_for_ends_early_when_the_process_exits_without_the_condition(client: SystemClient) -> None:
    client.start("quitter", "print('bye')")
    result = client.call(WaitFor(name="quitter", until="log_line", pattern="READY", timeout_s=20))
    assert not result.satisfied and result.state is ProcessState.EXITED
    assert result.elapsed_ms < 10_000, "answered when the process ended, not at the timeout"
    assert [line.text for line in result.last_lines] == ["bye"]


@pytest.mark.timeout(30)
def test_the_child_sees_the_daemons_environment_without_pm_variables_plus_its_own(
    client: SystemClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INHERITED_FROM_DAEMON", "yes")
    monkeypatch.setenv("PM_SECRET_SETTING", "must not leak")
    code = (
        "import os\n"
        "print('inherited', os.environ.get('INHERITED_FROM_DAEMON'))\n"
        "print('own', os.environ.get('MODE'))\n"
        "print('unbuffered', os.environ.get('PYTHONUNBUFFERED'))\n"
        "print('pm', sorted(k for k in os.environ if k.startswith('PM_')))"
    )
    client.start("env", code, env={"MODE": "mine"}, restart="never")
    client.call(WaitFor(name="env", until="exited", timeout_s=20))
    assert client.all_lines("env") == ["inherited yes", "own mine", "unbuffered 1", "pm []"]


@pytest.mark.timeout(30)
def test_wait_for_a_log_line_needs_a_valid_pattern(client: SystemClient) -> None:
    client.start("idle", "import time\ntime.sleep(60)")
    with pytest.raises(InvalidArgument, match="`pattern`"):
        client.call(WaitFor(name="idle", until="log_line", pattern="(unclosed"))


@pytest.mark.timeout(30)
def test_process_stats_count_a_grandchilds_memory(client: SystemClient) -> None:
    code = (
        "import subprocess, sys, time\n"
        'grandchild = \'import time\\nb = bytearray(60 * 1024 * 1024)\\nb[::4096] = b"x" * len(b[::4096])\\n'
        "print(1, flush=True)\\ntime.sleep(60)'\n"
        "child = subprocess.Popen([sys.executable, '-c', grandchild], stdout=subprocess.PIPE)\n"
        "child.stdout.readline()\nprint('allocated', flush=True)\ntime.sleep(60)"
    )
    client.start("parent", code)
    client.call(WaitFor(name="parent", until="log_line", pattern="allocated", timeout_s=20))
    stats = client.call(GetProcessStats(name="parent"))
    assert stats.children == 1
    assert stats.tree_rss_mb >= stats.rss_mb + 50


@pytest.mark.timeout(30)
def test_stats_of_a_process_that_is_not_running_are_refused(client: SystemClient) -> None:
    client.start("done", "pass")
    client.call(WaitFor(name="done", until="exited", timeout_s=20))
    with pytest.raises(NotRunning):
        client.call(GetProcessStats(name="done"))
    system = client.call(GetSystemStats())
    assert system.cpu_count >= 1 and system.managed_processes == 1 and system.running_processes == 0


@pytest.mark.timeout(30)
def test_restart_with_new_env_reuses_the_definition_and_says_what_changed(client: SystemClient) -> None:
    code = "import os, time\nprint(os.environ.get('MODE'), flush=True)\ntime.sleep(60)"
    client.start("svc", code, env={"MODE": "one"}, stop_timeout_s=2)
    client.call(WaitFor(name="svc", until="log_line", pattern="one", timeout_s=20))
    restarted = client.call(RestartProcess(name="svc", env={"MODE": "two"}))
    assert restarted.changed == ["env"] and restarted.state is ProcessState.RUNNING
    client.call(WaitFor(name="svc", until="log_line", pattern="two", timeout_s=20))
    info = client.info("svc")
    assert info.env == {"MODE": "two"} and info.args == ["-u", "-c", code] and info.stop_timeout_s == 2
    same = client.call(RestartProcess(name="svc"))
    assert same.changed == []


@pytest.mark.timeout(30)
def test_a_health_check_declared_later_applies_to_the_running_process(client: SystemClient) -> None:
    client.start("late", "import time\ntime.sleep(60)", restart="never")
    check = CommandCheck(command=PYTHON, args=["-c", "pass"], interval_ms=100)
    info = client.call(ConfigureProcess(name="late", health_check=check, restart="always"))
    assert info.health_check is not None and info.restart == "always" and info.state is ProcessState.RUNNING
    assert client.call(WaitFor(name="late", until="healthy", timeout_s=20)).satisfied
    removed = client.call(ConfigureProcess(name="late", remove_health_check=True))
    assert removed.health_check is None and removed.health is Health.UNKNOWN
    with pytest.raises(NotRunning, match="no health check"):
        client.call(CheckProcessHealth(name="late"))


@pytest.mark.timeout(30)
def test_a_command_health_check_is_held_to_the_allowlist(client: SystemClient) -> None:
    client.start("guarded", "import time\ntime.sleep(60)")
    with pytest.raises(ForbiddenCommand):
        client.call(ConfigureProcess(name="guarded", health_check=CommandCheck(command="env")))


@pytest.mark.timeout(30)
def test_a_fatal_process_is_retried_slowly_when_a_fatal_retry_is_configured(client: SystemClient) -> None:
    retrying = Backoff(initial_s=0.05, jitter=0.0, fatal_retry_s=0.2)
    client.start("phoenix", "import sys\nsys.exit(1)", restart="on-failure", max_restarts=0, backoff=retrying)
    wait_until(lambda: client.info("phoenix").restarts >= 2, timeout=20, message="two retries out of fatal")
    fatal = wait_until(
        lambda: (info := client.info("phoenix")).state is ProcessState.FATAL and info, message="fatal again"
    )
    assert "gave up after 0 restarts in a row" in (fatal.end_reason or "")
    assert fatal.next_restart_at is not None, "the next slow retry is already scheduled"
