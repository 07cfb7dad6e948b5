"""The three health checks, as plain blocking functions run on the HealthActor's worker threads.

Each runner returns `(passed, detail)` and bounds itself by the check's `timeout_s`: a command
is killed with its whole process group at the deadline, a TCP connect and each HTTP socket
operation get the time that is left. Nothing here touches an actor: `run_check` measures one
check and returns a `CheckOutcome` that the caller sends back as a message.

A command check's `command` was resolved and allowed when it was declared; at every run it is
checked again and the very file checked is exec'd (`executables.ExecutablePolicy`), as argv,
never through a shell, in its own session, with no stdin.
"""

from __future__ import annotations

import logging
import os
import secrets
import selectors
import signal
import socket
import subprocess
import time
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import http.client

from pm_actors.actors.child import forget, signal_tree, spawn_check
from pm_actors.actors.commands import child_environment
from pm_actors.actors.executables import ExecutablePolicy
from pm_actors.actors.observer_messages import CheckOutcome
from pm_actors.errors import PmError
from pm_actors.specs import CommandCheck, HealthCheck, HttpCheck, TcpCheck

logger = logging.getLogger(__name__)

OUTPUT_CAP_BYTES = 4096
"""A command's output kept for the detail (its tail, where errors are): enough to explain a
failure, small enough to store a thousand of per process."""
HTTP_BODY_CAP_BYTES = 512
"""Body bytes of an unexpected HTTP answer quoted in the detail: the gist of an error page."""
READ_CHUNK_BYTES = 65536
USER_AGENT = "pm-actors-health-check"

CheckResult = tuple[bool, str]
"""(passed, detail) of one check."""


class Cancellation:
    """Wakes every running command check at once so it kills its child and returns: the
    HealthActor cancels when it stops, so a daemon shutdown never waits for a check's timeout.

    A pipe that becomes readable for good on `cancel()`; its ends are closed only when the last
    runner holding this object is done with it (weakref finalizer), never under a running select.
    """

    def __init__(self) -> None:
        self._read_fd, self._write_fd = os.pipe()
        self._cancelled = False
        weakref.finalize(self, _close_fds, self._read_fd, self._write_fd)

    def fileno(self) -> int:
        return self._read_fd

    def cancel(self) -> None:
        if not self._cancelled:
            self._cancelled = True
            os.write(self._write_fd, b"x")


def run_check(
    check: HealthCheck, policy: ExecutablePolicy, cancellation: Cancellation | None = None
) -> CheckOutcome:
    """Run one check on the calling thread (a worker's) and time it; `policy` checks a command."""
    started = time.perf_counter()
    if isinstance(check, CommandCheck):
        passed, detail = run_command_check(check, policy, cancellation)
    elif isinstance(check, TcpCheck):
        passed, detail = run_tcp_check(check)
    else:
        passed, detail = run_http_check(check)
    duration_ms = (time.perf_counter() - started) * 1000
    return CheckOutcome(passed=passed, detail=detail, duration_ms=duration_ms, finished_at=time.time())


# Command ------------------------------------------------------------------------------------


class _TailBuffer:
    """The last `cap` bytes of a stream, and how many were dropped before them."""

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._data = bytearray()
        self.dropped = 0

    def add(self, chunk: bytes) -> None:
        self._data += chunk
        excess = len(self._data) - self._cap
        if excess > 0:
            del self._data[:excess]
            self.dropped += excess

    def text(self) -> str:
        text = self._data.decode("utf-8", errors="replace").strip()
        if self.dropped:
            return f"[{self.dropped} earlier bytes cut] {text}"
        return text


def run_command_check(
    check: CommandCheck, policy: ExecutablePolicy, cancellation: Cancellation | None = None
) -> CheckResult:
    """Passes when the command exits with code 0 before the deadline; stdout and stderr, merged,
    give the detail. At the deadline (or on cancellation) its whole process group is killed.
    Whatever it leaves behind, in its group or not (its own marker finds it), is killed too."""
    deadline = time.monotonic() + check.timeout_s
    environment = child_environment({})
    marker = f"check:{secrets.token_hex(8)}"
    try:
        with policy.plan(check.command, check.command, environment.get("PATH", os.defpath)) as plan:
            argv = [*plan.argv, *check.args]
            popen = spawn_check(plan.exec_path, plan.descriptor, argv, environment, marker)
    except PmError as error:
        return False, f"could not run {check.command}: {error.message}"
    except OSError as error:
        return False, f"could not run {check.command}: {error.strerror or error}"
    output = _TailBuffer(OUTPUT_CAP_BYTES)
    ending = _supervise(popen, marker, output, deadline, cancellation)
    status = popen.returncode
    if ending == "timeout":
        return False, _with_output(
            f"no exit within {check.timeout_s:g} s; its process group was killed", output
        )
    if ending == "cancelled" or status is None:
        return False, "cancelled: health checks are stopping"
    if status < 0:
        return False, _with_output(f"killed by {_signal_name(-status)}", output)
    return status == 0, _with_output(f"exit code {status}", output)


def _supervise(
    popen: subprocess.Popen[bytes],
    marker: str,
    output: _TailBuffer,
    deadline: float,
    cancellation: Cancellation | None,
) -> str:
    """Collect output until the child exits, the deadline passes or the check is cancelled;
    then kill its tree and reap it. Returns "exited", "timeout" or "cancelled".

    The group is killed before the leader is reaped: an unreaped leader (a zombie at worst)
    keeps its group id ours, so the kill can never reach a stranger that reused the pid, and
    whatever the command left behind goes with it."""
    stdout = popen.stdout
    if stdout is None:
        raise ValueError("a command check needs its output pipe")
    pidfd = os.pidfd_open(popen.pid)
    try:
        return _collect(stdout.fileno(), pidfd, output, deadline, cancellation)
    finally:
        signal_tree(popen.pid, marker, signal.SIGKILL, leader=popen.pid)
        os.close(pidfd)
        stdout.close()
        popen.wait()
        forget(popen.pid)


def _collect(
    output_fd: int, pidfd: int, output: _TailBuffer, deadline: float, cancellation: Cancellation | None
) -> str:
    os.set_blocking(output_fd, False)
    with selectors.DefaultSelector() as selector:
        selector.register(output_fd, selectors.EVENT_READ, "output")
        selector.register(pidfd, selectors.EVENT_READ, "exit")
        if cancellation is not None:
            selector.register(cancellation.fileno(), selectors.EVENT_READ, "cancel")
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "timeout"
            for key, _ in selector.select(remaining):
                if key.data == "exit":
                    _read_available(output_fd, output)  # all the leader wrote is in the pipe now
                    return "exited"
                if key.data == "cancel":
                    return "cancelled"
                if not _read_available(output_fd, output):
                    selector.unregister(output_fd)


def _read_available(fd: int, output: _TailBuffer) -> bool:
    """Read what the pipe holds now; False once it reached EOF."""
    while True:
        try:
            chunk = os.read(fd, READ_CHUNK_BYTES)
        except BlockingIOError:
            return True
        if not chunk:
            return False
        output.add(chunk)


def _with_output(summary: str, output: _TailBuffer) -> str:
    text = output.text()
    return f"{summary}: {text}" if text else summary


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _close_fds(*fds: int) -> None:
    for fd in fds:
        os.close(fd)


# TCP ----------------------------------------------------------------------------------------


def run_tcp_check(check: TcpCheck) -> CheckResult:
    """Passes when a TCP connection to host:port opens before the deadline (then closes it)."""
    address = f"{check.host}:{check.port}"
    try:
        _connect(check.host, check.port, time.monotonic() + check.timeout_s).close()
    except TimeoutError:
        return False, f"no connection to {address} within {check.timeout_s:g} s"
    except OSError as error:
        return False, f"cannot connect to {address}: {_reason(error)}"
    return True, f"connected to {address}"


def _connect(host: str, port: int, deadline: float) -> socket.socket:
    """Try each address of host in turn with the time left, so that a name with several
    addresses (localhost: ::1 and 127.0.0.1) still ends by the one deadline.
    The name lookup itself cannot be bounded here; the HealthActor's overdue guard covers it."""
    last_error: OSError = TimeoutError()
    for family, kind, protocol, _, address in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        connection = socket.socket(family, kind, protocol)
        connection.settimeout(remaining)
        try:
            connection.connect(address)
        except OSError as error:
            connection.close()
            last_error = error
            continue
        return connection
    raise last_error


def _reason(error: OSError) -> str:
    return error.strerror or str(error) or type(error).__name__


# HTTP ---------------------------------------------------------------------------------------


def run_http_check(check: HttpCheck) -> CheckResult:
    """Passes when GET url answers with expect_status. Redirects are not followed, and the URL is
    not quoted in the detail (it may carry credentials)."""
    import http.client  # only here: http and email cost the daemon megabytes it rarely needs

    deadline = time.monotonic() + check.timeout_s
    try:
        connection, target = _http_connection(check.url, check.timeout_s)
    except ValueError as error:
        return False, f"invalid url: {error}"
    try:
        return _get(connection, target, check.expect_status, deadline)
    except TimeoutError:
        return False, f"no answer within {check.timeout_s:g} s"
    except OSError as error:
        return False, f"GET failed: {_reason(error)}"
    except http.client.HTTPException as error:
        return False, f"GET failed: bad HTTP answer ({type(error).__name__}: {error})"
    finally:
        connection.close()


def _http_connection(url: str, timeout_s: float) -> tuple[http.client.HTTPConnection, str]:
    import http.client
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected http://host[:port]/path or https://...")
    connection_type = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_type(parts.hostname, parts.port, timeout=timeout_s)  # .port raises ValueError
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return connection, target


def _get(
    connection: http.client.HTTPConnection, target: str, expect_status: int, deadline: float
) -> CheckResult:
    connection.connect()
    if connection.sock is not None:
        # Connecting used some of the time; the rest is what each later socket operation gets.
        connection.sock.settimeout(max(deadline - time.monotonic(), 0.001))
    connection.request("GET", target, headers={"User-Agent": USER_AGENT, "Connection": "close"})
    response = connection.getresponse()
    status = f"HTTP {response.status} {response.reason}".rstrip()
    if response.status == expect_status:
        return True, status
    body = response.read(HTTP_BODY_CAP_BYTES).decode("utf-8", errors="replace").strip()
    redirect = " (redirects are not followed)" if 300 <= response.status < 400 else ""
    detail = f"{status}, expected {expect_status}{redirect}"
    return False, f"{detail}: {body}" if body else detail
