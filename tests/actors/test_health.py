"""HealthActor and its checks with real things: child processes, sockets, an HTTP server child,
the scheduler thread and the LogWriterActor on a SQLite file. The process side is a small
recording actor of our own, standing where a ProcessActor would."""

from __future__ import annotations

import concurrent.futures
import logging
import re
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import apsw
import psutil
import pykka
import pytest

from pm_actors.actors.executables import ExecutablePolicy
from pm_actors.actors.health import OVERDUE_GRACE_S, HealthActor, next_health
from pm_actors.actors.health_checks import OUTPUT_CAP_BYTES, run_check
from pm_actors.actors.log_writes import HEALTH_HISTORY_PER_PROCESS
from pm_actors.actors.messages import DeleteProcessData, Flush, HealthObserved, RecordHealthCheck
from pm_actors.actors.observer_messages import CheckHealthNow, UnwatchHealth, WatchHealth
from pm_actors.actors.scheduler import Scheduler
from pm_actors.actors.store import MIGRATIONS, SCHEMA_VERSION, open_write_connection, schema_version
from pm_actors.config import load_config
from pm_actors.errors import NotRunning
from pm_actors.results import HealthReport
from pm_actors.specs import CommandCheck, HealthCheck, HttpCheck, TcpCheck
from pm_actors.states import Health
from tests.helpers import PYTHON, PYTHON_ROOT, wait_until
from tests.log_store_support import start_writer

POLICY = ExecutablePolicy(
    load_config({"HOME": "/tmp", "PM_ALLOWED_COMMANDS": f"{PYTHON_ROOT},/usr/bin,/bin"})
)
"""The test interpreter and the system's programs allowed, as in a test daemon."""

WAIT_S = 10.0
FAST_S = 0.05
"""Interval of the tests' periodic checks."""

HTTP_SERVER = """
import http.server
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        status = int(self.path.rsplit("/", 1)[1]) if self.path.startswith("/status/") else 200
        body = b"body of %d" % status
        self.send_response(status)
        self.send_header("Location", "/")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


class Snapshot:
    """Asked of the Recorder: every HealthObserved it got so far, in order."""


class Recorder(pykka.ThreadingActor):
    """Stands in for ProcessActors: keeps each HealthObserved told to it."""

    def __init__(self) -> None:
        super().__init__()
        self.observed: list[tuple[int, HealthReport]] = []

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, HealthObserved):
            self.observed.append((message.run_id, message.report))
        elif isinstance(message, Snapshot):
            return list(self.observed)
        return None


class Listener:
    """A TCP listener that accepts (and closes) every connection on its own thread."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.socket.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return  # shut down
            connection.close()

    def close(self) -> None:
        self.socket.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self.socket.close()
        self._thread.join(WAIT_S)


@pytest.fixture
def writer(database: Path) -> Iterator[pykka.ActorRef[Any]]:
    ref = start_writer(database)
    yield ref
    ref.stop(block=True)


@pytest.fixture
def recorder() -> Iterator[pykka.ActorRef[Any]]:
    ref = Recorder.start()
    yield ref
    ref.stop(block=True)


@pytest.fixture
def health(scheduler: Scheduler, writer: pykka.ActorRef[Any], recorder: Any) -> Iterator[pykka.ActorRef[Any]]:
    ref = HealthActor.start(scheduler, writer, POLICY)
    yield ref
    if ref.is_alive():
        ref.stop(block=True)


@pytest.fixture
def listener() -> Iterator[Listener]:
    listener = Listener()
    yield listener
    listener.close()


@pytest.fixture
def http_url() -> Iterator[str]:
    """A real HTTP server child; it binds port 0 and prints the port, so no race for a port."""
    child = subprocess.Popen(
        [PYTHON, "-u", "-c", HTTP_SERVER], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE
    )
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        child.kill()
        child.wait()
        if child.stdout is not None:
            child.stdout.close()


def closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port: int = probe.getsockname()[1]
    return port


def python_check(code: str, *args: str, **fields: Any) -> CommandCheck:
    return CommandCheck(command=PYTHON, args=["-c", code, *args], **fields)


def flag_check(flag: Path, threshold: int = 3) -> CommandCheck:
    """Passes while the flag file exists."""
    code = "import os, sys; sys.exit(0 if os.path.exists(sys.argv[1]) else 1)"
    return python_check(code, str(flag), failure_threshold=threshold)


def watch(
    health: pykka.ActorRef[Any],
    recorder: pykka.ActorRef[Any],
    name: str,
    check: HealthCheck,
    interval_s: float = FAST_S,
    process_id: int = 1,
    run_id: int = 1,
) -> None:
    health.tell(WatchHealth(name, process_id, run_id, check, interval_s, recorder))


def observed(recorder: pykka.ActorRef[Any], run_id: int | None = None) -> list[HealthReport]:
    """Reports told to the recorder so far (of one run, if given), in order."""
    pairs = cast(list[tuple[int, HealthReport]], recorder.ask(Snapshot()))
    return [report for run, report in pairs if run_id is None or run == run_id]


def wait_for_reports(
    recorder: pykka.ActorRef[Any], count: int, run_id: int | None = None
) -> list[HealthReport]:
    return wait_until(
        lambda: len(reports := observed(recorder, run_id)) >= count and reports,
        timeout=WAIT_S,
        message=f"{count} health reports",
    )


def check_now(health: pykka.ActorRef[Any], name: str) -> concurrent.futures.Future[Any]:
    reply: concurrent.futures.Future[Any] = concurrent.futures.Future()
    health.tell(CheckHealthNow(name, reply))
    return reply


def stored(reader: apsw.Connection, process_id: int) -> list[tuple[Any, ...]]:
    sql = "SELECT run_id, healthy, detail FROM health_checks WHERE process_id = ? ORDER BY id"
    return [tuple(row) for row in reader.execute(sql, (process_id,))]


# Health from consecutive results --------------------------------------------------------------


@pytest.mark.parametrize(
    ("previous", "failures", "passed", "expected"),
    [
        (Health.UNKNOWN, 0, True, (Health.HEALTHY, 0)),
        (Health.UNHEALTHY, 5, True, (Health.HEALTHY, 0)),
        (Health.UNKNOWN, 0, False, (Health.UNKNOWN, 1)),
        (Health.HEALTHY, 1, False, (Health.HEALTHY, 2)),
        (Health.HEALTHY, 2, False, (Health.UNHEALTHY, 3)),
        (Health.UNHEALTHY, 3, False, (Health.UNHEALTHY, 4)),
    ],
)
def test_health_turns_unhealthy_only_at_the_threshold_of_failures_in_a_row_and_healthy_on_any_pass(
    previous: Health, failures: int, passed: bool, expected: tuple[Health, int]
) -> None:
    assert next_health(previous, failures, passed, threshold=3) == expected


# Through the actor ----------------------------------------------------------------------------


def test_a_passing_check_makes_the_run_healthy_is_told_to_the_process_and_stored(
    health: Any, recorder: Any, listener: Listener, reader: apsw.Connection
) -> None:
    watch(health, recorder, "web", TcpCheck(port=listener.port), process_id=7, run_id=3)

    report = wait_for_reports(recorder, 1, run_id=3)[0]
    assert (report.name, report.healthy, report.health, report.consecutive_failures) == (
        "web",
        True,
        Health.HEALTHY,
        0,
    )
    assert report.detail == f"connected to 127.0.0.1:{listener.port}"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", report.checked_at)
    assert report.duration_ms >= 0
    rows = wait_until(lambda: stored(reader, 7), timeout=WAIT_S, message="a stored health check")
    assert rows[0] == (3, 1, report.detail)


def test_failures_leave_health_unknown_until_the_threshold_makes_it_unhealthy(
    health: Any, recorder: Any
) -> None:
    watch(health, recorder, "api", python_check("import sys; sys.exit(1)", failure_threshold=3))

    reports = wait_for_reports(recorder, 3)[:3]
    assert [(report.health, report.consecutive_failures) for report in reports] == [
        (Health.UNKNOWN, 1),
        (Health.UNKNOWN, 2),
        (Health.UNHEALTHY, 3),
    ]
    assert not any(report.healthy for report in reports)
    assert reports[0].detail == "exit code 1"


def test_a_healthy_run_becomes_unhealthy_only_after_threshold_failures_in_a_row_then_healthy_on_a_pass(
    health: Any, recorder: Any, short_tmp: Path
) -> None:
    flag = short_tmp / "up"
    flag.touch()
    watch(health, recorder, "api", flag_check(flag, threshold=3))
    wait_until(lambda: any(report.healthy for report in observed(recorder)), timeout=WAIT_S)

    flag.unlink()
    wait_until(lambda: any(report.consecutive_failures >= 3 for report in observed(recorder)), timeout=WAIT_S)
    reports = observed(recorder)
    first_failure = next(index for index, report in enumerate(reports) if not report.healthy)
    assert reports[first_failure - 1].health == Health.HEALTHY
    assert [(report.health, report.consecutive_failures) for report in reports[first_failure:][:3]] == [
        (Health.HEALTHY, 1),
        (Health.HEALTHY, 2),
        (Health.UNHEALTHY, 3),
    ]

    seen = len(reports)
    flag.touch()
    recovered = wait_until(
        lambda: next((report for report in observed(recorder)[seen:] if report.healthy), None), timeout=WAIT_S
    )
    assert (recovered.health, recovered.consecutive_failures) == (Health.HEALTHY, 0)


def test_check_health_now_answers_with_a_fresh_report_that_also_reaches_the_process(
    health: Any, recorder: Any, listener: Listener
) -> None:
    watch(health, recorder, "web", TcpCheck(port=listener.port), interval_s=60)

    report = check_now(health, "web").result(timeout=WAIT_S)

    assert isinstance(report, HealthReport)
    assert (report.name, report.healthy, report.health) == ("web", True, Health.HEALTHY)
    wait_until(lambda: report in observed(recorder), timeout=WAIT_S, message="the report at the process")


def test_check_health_now_of_a_process_without_a_running_check_says_why(health: Any) -> None:
    with pytest.raises(NotRunning, match="no health check running: it is not running or was started without"):
        check_now(health, "ghost").result(timeout=WAIT_S)


def test_unwatch_stops_the_checks_fails_a_check_in_flight_and_ignores_its_late_result(
    health: Any,
    recorder: Any,
    listener: Listener,
    reader: apsw.Connection,
    writer: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="pm_actors.actors.health")
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, then answers when we say
        silent.settimeout(WAIT_S)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        watch(
            health, recorder, "slow", HttpCheck(url=url, timeout_s=30), interval_s=60, process_id=2, run_id=2
        )
        watch(health, recorder, "steady", TcpCheck(port=listener.port), process_id=3, run_id=3)
        reply = check_now(health, "slow")
        held, _ = silent.accept()  # the check is in flight

        health.tell(UnwatchHealth("slow"))
        with pytest.raises(NotRunning, match="stopped being health-checked"):
            reply.result(timeout=WAIT_S)

        with held:
            held.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
    wait_until(lambda: "ignored a late result of 'slow'" in caplog.text, timeout=WAIT_S)

    steady_count = len(observed(recorder, run_id=3))
    wait_for_reports(recorder, steady_count + 3, run_id=3)  # the timers kept running meanwhile
    assert observed(recorder, run_id=2) == []
    writer.ask(Flush())
    assert stored(reader, 2) == []
    assert stored(reader, 3)


def test_watching_a_name_again_replaces_the_watch_and_starts_its_count_afresh(
    health: Any, recorder: Any
) -> None:
    failing = "import sys; sys.exit(1)"
    watch(health, recorder, "api", python_check(failing, failure_threshold=1), run_id=1)
    assert wait_for_reports(recorder, 1, run_id=1)[0].health == Health.UNHEALTHY

    watch(health, recorder, "api", python_check(failing, failure_threshold=2), run_id=2)
    wait_for_reports(recorder, 3, run_id=2)

    runs = [run for run, _ in recorder.ask(Snapshot())]
    assert 1 not in runs[runs.index(2) :]
    first = observed(recorder, run_id=2)[0]
    assert (first.health, first.consecutive_failures) == (Health.UNKNOWN, 1)


# Timeouts -------------------------------------------------------------------------------------


def test_a_hanging_command_check_fails_at_its_timeout_and_leaves_no_process_behind(
    health: Any, recorder: Any
) -> None:
    code = (
        "import subprocess, sys, time; "
        "helper = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        "print('helper', helper.pid, flush=True); time.sleep(60)"
    )
    watch(health, recorder, "hung", python_check(code, timeout_s=0.3), interval_s=60)

    report = check_now(health, "hung").result(timeout=WAIT_S)

    assert not report.healthy
    assert report.detail.startswith("no exit within 0.3 s; its process group was killed")
    assert report.duration_ms >= 300
    match = re.search(r"helper (\d+)", report.detail)
    assert match, report.detail
    helper = int(match.group(1))
    wait_until(lambda: not _alive(helper), timeout=WAIT_S, message="the check's helper to be gone")


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_check_that_overruns_its_timeout_is_reported_stuck_and_not_run_again_meanwhile(
    health: Any, recorder: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="pm_actors.actors.health")
    stop_dripping = threading.Event()
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(WAIT_S)
        url = f"http://127.0.0.1:{server.getsockname()[1]}/"
        watch(health, recorder, "drip", HttpCheck(url=url, timeout_s=0.2), interval_s=60)
        reply = check_now(health, "drip")
        connection, _ = server.accept()
        with connection:
            # Each byte comes well within the socket timeout, so only the overdue guard ends it.
            connection.sendall(b"HTTP/1.0 200 OK\r\nX-Drip: ")
            dripper = threading.Thread(target=_drip, args=(connection, stop_dripping), daemon=True)
            dripper.start()
            report = reply.result(timeout=WAIT_S)
            again = check_now(health, "drip").result(timeout=WAIT_S)
            stop_dripping.set()
            dripper.join(WAIT_S)
    assert not report.healthy
    assert report.detail.startswith(f"no result within {0.2 + OVERDUE_GRACE_S:g} s (timeout 0.2 s)")
    assert not again.healthy
    assert again.detail.startswith("not run: an earlier check of this run is still stuck")
    wait_until(lambda: "it was reported overdue" in caplog.text, timeout=WAIT_S)


def _drip(connection: socket.socket, stop: threading.Event) -> None:
    while not stop.wait(0.05):
        connection.sendall(b"a")


def test_stopping_the_actor_kills_a_running_command_check_at_once(health: Any, recorder: Any) -> None:
    watch(health, recorder, "hung", python_check("import time; time.sleep(60)", timeout_s=60), interval_s=60)
    reply = check_now(health, "hung")
    me = psutil.Process()
    wait_until(lambda: me.children(), timeout=WAIT_S, message="the check's child")

    health.stop(block=True)

    with pytest.raises(NotRunning, match="shutting down"):
        reply.result(timeout=WAIT_S)
    wait_until(lambda: not [child for child in me.children() if _alive(child.pid)], timeout=WAIT_S)


# The checks themselves ------------------------------------------------------------------------


def test_a_command_check_passes_on_exit_code_zero_with_its_output_and_never_uses_a_shell() -> None:
    outcome = run_check(python_check("import sys; print(sys.argv[1])", "$(echo hi); exit 1"), POLICY)
    assert (outcome.passed, outcome.detail) == (True, "exit code 0: $(echo hi); exit 1")


def test_a_command_check_keeps_only_the_tail_of_a_large_output() -> None:
    outcome = run_check(
        python_check("import sys; print('x' * 100_000); print('the end'); sys.exit(2)"), POLICY
    )
    assert not outcome.passed
    assert outcome.detail.startswith("exit code 2: [")
    assert "earlier bytes cut" in outcome.detail
    assert outcome.detail.endswith("the end")
    assert len(outcome.detail) < OUTPUT_CAP_BYTES + 100


def test_a_command_check_of_a_missing_executable_fails_with_the_reason(short_tmp: Path) -> None:
    outcome = run_check(CommandCheck(command=str(short_tmp / "missing")), POLICY)
    assert not outcome.passed
    assert "not found" in outcome.detail


def test_a_tcp_check_passes_when_a_listener_accepts_and_fails_when_refused(listener: Listener) -> None:
    assert run_check(TcpCheck(port=listener.port), POLICY).passed
    port = closed_port()
    refused = run_check(TcpCheck(port=port, timeout_s=2), POLICY)
    assert (refused.passed, refused.detail) == (
        False,
        f"cannot connect to 127.0.0.1:{port}: Connection refused",
    )


def test_an_http_check_passes_on_the_expected_status_and_otherwise_says_which_status_came(
    http_url: str,
) -> None:
    assert run_check(HttpCheck(url=f"{http_url}/"), POLICY).detail == "HTTP 200 OK"
    assert run_check(HttpCheck(url=f"{http_url}/status/503", expect_status=503), POLICY).passed
    down = run_check(HttpCheck(url=f"{http_url}/status/503"), POLICY)
    assert (down.passed, down.detail) == (False, "HTTP 503 Service Unavailable, expected 200: body of 503")
    moved = run_check(HttpCheck(url=f"{http_url}/status/302"), POLICY)
    assert not moved.passed
    assert "(redirects are not followed)" in moved.detail
    refused = run_check(HttpCheck(url=f"http://127.0.0.1:{closed_port()}/", timeout_s=2), POLICY)
    assert (refused.passed, refused.detail) == (False, "GET failed: Connection refused")


def test_an_http_check_through_the_actor_reports_a_real_server_healthy(
    health: Any, recorder: Any, http_url: str
) -> None:
    watch(health, recorder, "site", HttpCheck(url=f"{http_url}/health"))
    report = wait_for_reports(recorder, 1)[0]
    assert (report.healthy, report.health, report.detail) == (True, Health.HEALTHY, "HTTP 200 OK")


# Storage --------------------------------------------------------------------------------------


def test_stored_checks_are_bounded_per_process_and_deleted_with_the_process(
    writer: Any, reader: apsw.Connection
) -> None:
    for number in range(HEALTH_HISTORY_PER_PROCESS + 5):
        writer.tell(RecordHealthCheck(1, 1, float(number), number % 2 == 0, f"check {number}", 1.5))
    for number in range(3):
        writer.tell(RecordHealthCheck(2, 9, float(number), True, "other", 0.5))
    writer.ask(Flush())

    kept = reader.execute(
        "SELECT count(*), min(checked_at) FROM health_checks WHERE process_id = 1"
    ).fetchone()
    assert kept == (HEALTH_HISTORY_PER_PROCESS, 5.0)
    assert len(stored(reader, 2)) == 3

    done: concurrent.futures.Future[Any] = concurrent.futures.Future()
    writer.tell(DeleteProcessData(1, done))
    done.result(timeout=WAIT_S)
    assert stored(reader, 1) == []
    assert len(stored(reader, 2)) == 3


def test_a_version_1_database_gains_the_health_checks_table(short_tmp: Path) -> None:
    path = short_tmp / "old.db"
    old = apsw.Connection(str(path))
    with old:
        MIGRATIONS[0](old)
        old.execute("PRAGMA user_version = 1")
    old.close()

    connection = open_write_connection(path)
    try:
        assert schema_version(connection) == SCHEMA_VERSION
        names = {name for (name,) in connection.execute("SELECT name FROM sqlite_master")}
        assert {"health_checks", "health_checks_by_process"} <= names
    finally:
        connection.close()
