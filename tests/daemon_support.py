"""Helpers for tests of a real `pm-actors daemon` process: start it, talk to it, stop it.

A `Daemon` is `python -m pm_actors daemon` in a child process, with its own database, socket
and token under a short temp dir, its stdout and stderr in a log file there. `DaemonLauncher`
starts any number of them for one test and always stops them at teardown: SIGTERM, a bounded
wait, then SIGKILL. `SyncClient` is a `DaemonClient` for sync tests: one connection kept open
on its own event loop between calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, TypeVar

import psutil

from pm_actors.api import GetLogs, RequestUnion
from pm_actors.config import Config
from pm_actors.ipc.client import DaemonClient
from pm_actors.request_base import MAX_CHARS
from tests.helpers import PYTHON, group_is_gone, wait_until
from tests.ipc.support import make_config

T = TypeVar("T")

DAEMON_START_TIMEOUT_S = 15.0
"""A daemon listens ~0.1 s after exec; this allows for a loaded 2-core machine."""

DAEMON_STOP_TIMEOUT_S = 20.0
"""SIGTERM stops every child in parallel (our children die on SIGTERM at once) and commits
their output; past this the daemon is stuck and gets SIGKILL."""

CALL_TIMEOUT_S = 20.0
"""Bound of one call (or connect) to the daemon, so a hang fails with a traceback."""

DAEMON_COMMAND: tuple[str, ...] = (PYTHON, "-m", "pm_actors", "daemon")


class Daemon:
    """One daemon process started by a test."""

    def __init__(self, popen: subprocess.Popen[bytes], environment: dict[str, str], log_path: Path) -> None:
        self.popen = popen
        self.environment = environment
        self.config: Config = make_config(environment)
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_ready(self) -> None:
        """Wait until the daemon accepts connections; fail at once, with its log, if it exits."""

        def ready() -> bool:
            if self.popen.poll() is not None:
                code = self.popen.returncode
                raise AssertionError(
                    f"the daemon exited with code {code} before listening:\n{self.log_text()}"
                )
            return accepts_connections(self.config)

        wait_until(ready, timeout=DAEMON_START_TIMEOUT_S, interval=0.01, message="the daemon to listen")

    def terminate(self) -> int:
        """SIGTERM, wait; SIGKILL if it does not exit within the bound. Returns its exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=DAEMON_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            raise AssertionError(
                f"the daemon did not exit within {DAEMON_STOP_TIMEOUT_S:g} s of SIGTERM:\n{self.log_text()}"
            ) from None

    def kill(self) -> None:
        """SIGKILL and reap: the daemon gets no chance to clean anything up."""
        self.popen.kill()
        self.popen.wait(timeout=DAEMON_STOP_TIMEOUT_S)

    def client(self) -> SyncClient:
        return SyncClient(self.config)

    def call(self, request: RequestUnion) -> Any:
        """One request on a connection of its own."""
        with self.client() as client:
            return client.call(request)


class DaemonLauncher:
    """Starts daemons for one test (cwd: the short temp dir, never the source tree, whose
    `pm_actors/` folder would shadow the installed package) and stops them all at the end."""

    def __init__(self, directory: Path, environment: dict[str, str]) -> None:
        self.directory = directory
        self.environment = environment
        self.daemons: list[Daemon] = []

    def spawn(self, command: Sequence[str] = DAEMON_COMMAND, **overrides: str) -> Daemon:
        """Start a daemon without waiting for it; `overrides` are added to its environment."""
        environment = self.environment | overrides
        log_path = self.directory / f"daemon-{len(self.daemons) + 1}.log"
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                list(command),
                cwd=self.directory,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        daemon = Daemon(popen, environment, log_path)
        self.daemons.append(daemon)
        return daemon

    def start(self, command: Sequence[str] = DAEMON_COMMAND, **overrides: str) -> Daemon:
        """Start a daemon and wait until it accepts connections."""
        daemon = self.spawn(command, **overrides)
        daemon.wait_ready()
        return daemon

    def stop_all(self) -> None:
        """Stop every daemon; fail if one had to be killed or logged an unexpected exception."""
        problems: list[str] = []
        for daemon in self.daemons:
            try:
                daemon.terminate()
            except AssertionError as problem:
                problems.append(str(problem))
                continue
            if "Traceback" in (log := daemon.log_text()):
                problems.append(f"the daemon (pid {daemon.pid}) logged an exception:\n{log}")
        if problems:
            raise AssertionError("\n".join(problems))


class SyncClient:
    """A `DaemonClient` for sync code: its connection stays open between calls."""

    def __init__(self, config: Config) -> None:
        self._runner = asyncio.Runner()
        try:
            self.connection: DaemonClient = self.run(DaemonClient.connect(config))
        except BaseException:
            self._runner.close()
            raise

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        async def bounded() -> T:
            async with asyncio.timeout(CALL_TIMEOUT_S):
                return await work

        return self._runner.run(bounded())

    def call(self, request: RequestUnion) -> Any:
        return self.run(self.connection.call(request))

    def close(self) -> None:
        try:
            self.run(self.connection.close())
        finally:
            self._runner.close()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def accepts_connections(config: Config) -> bool:
    """Whether something listens at the daemon's address (a bound socket file that does not
    listen yet refuses, as does a stale one)."""
    try:
        if config.daemon_transport == "unix":
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                probe.connect(os.fspath(config.daemon_socket_path))
        else:
            with socket.create_connection((config.daemon_tcp_bind, config.daemon_tcp_port), timeout=1):
                pass
    except (FileNotFoundError, ConnectionRefusedError):
        return False
    return True


class Calls(Protocol):
    """A client of the daemon's requests: a SyncClient, or a SystemClient of an in-process system."""

    def call(self, request: RequestUnion) -> Any: ...


def all_lines(client: Calls, name: str, page_size: int = 10_000) -> list[str]:
    """Every stored line of `name`, paging forward with `get_logs`."""
    texts: list[str] = []
    after_id = 0
    while True:
        page = client.call(
            GetLogs(
                name=name, after_id=after_id, limit=page_size, max_chars=MAX_CHARS, max_line_chars=MAX_CHARS
            )
        )
        texts.extend(line.text for line in page.lines)
        after_id = page.next_after_id
        if not page.has_more:
            return texts


def wait_gone(pids: Sequence[int], what: str, check: Callable[[int], bool] = group_is_gone) -> None:
    wait_until(lambda: all(check(pid) for pid in pids), timeout=10, message=what)


class PeakRss:
    """Samples a process's resident memory on a thread until stopped; keeps the peak."""

    def __init__(self, pid: int, interval_s: float = 0.01) -> None:
        self._process = psutil.Process(pid)
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)
        self.peak_bytes = 0
        self.samples = 0

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while True:
            with contextlib.suppress(psutil.Error):
                self.peak_bytes = max(self.peak_bytes, self._process.memory_info().rss)
                self.samples += 1
            if self._stop.wait(self._interval_s):
                return


def free_tcp_port() -> int:
    """A loopback port nobody listens on now (the kernel's pick for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


CLI_TIMEOUT_S = 60.0


def run_cli(
    environment: Mapping[str, str], directory: Path, *arguments: str
) -> subprocess.CompletedProcess[str]:
    """`pm-actors ARGUMENTS` in `directory` (never the source tree, whose `pm_actors/` folder
    would shadow the installed package), its output captured."""
    return subprocess.run(
        [PYTHON, "-m", "pm_actors", *arguments],
        env=dict(environment),
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )
