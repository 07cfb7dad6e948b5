"""Connect to the daemon, starting one first when none answers and auto-start is on.

The daemon is started detached (its own session, stdio away from the caller's: the MCP
shim's stdout carries JSON-RPC only, and closing the MCP client must not kill the daemon)
and its stderr goes to the daemon log. Two launchers racing may both start a daemon: the
single-instance lock makes one of them exit, and both launchers keep trying the socket, so
both end up talking to the one that won.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from pm_actors.config import Config
from pm_actors.errors import DaemonUnavailable

from .auth import PRIVATE_FILE_MODE, ensure_private_directory
from .client import CONNECT_TIMEOUT_S, DaemonClient, NoDaemonListening
from .settings_check import connect_matching

logger = logging.getLogger(__name__)

AUTO_START_TIMEOUT_S = 10.0
"""A daemon opens its database and starts its actors well within a second; this allows for a
slow, busy machine before we report that it never answered."""

STARTUP_POLL_INTERVAL_S = 0.05
"""How often to try the socket of a starting daemon: short next to its start-up time."""

EXITED_DAEMON_GRACE_S = 1.0
"""After the daemon we started exits, how long to keep trying before reporting its failure,
in case it lost the single-instance lock to a racing daemon that is about to answer."""

LOG_TAIL_LINES = 15
LOG_TAIL_BYTES = 16 * 1024

_started_daemons: list[subprocess.Popen[bytes]] = []
"""Daemons this process started, kept so that one that exits is reaped (not left a zombie)
and so that a running one is not reported as a leaked subprocess."""


def daemon_command() -> list[str]:
    """How a daemon is started: under its keeper (which keeps its processes running and heard
    if it crashes, and starts it again), with this very interpreter, so it runs the same
    pm-actors."""
    return [sys.executable, "-m", "pm_actors.app.keeper"]


async def connect_or_start(config: Config, *, command: Sequence[str] | None = None) -> DaemonClient:
    """A client connected to the daemon, started first if none answers and auto-start is on.

    `command` replaces `daemon_command()` (for tests and packagers)."""
    _reap_exited_daemons()
    try:
        return await connect_matching(config)
    except NoDaemonListening as nobody:
        if not config.daemon_auto_start:
            raise NoDaemonListening(
                f"{nobody.message} (auto-start is off: PM_DAEMON_AUTO_START=false)"
            ) from None
        logger.info("%s; starting a daemon", nobody.message)
    log_offset = _size_of(config.daemon_log_path)
    daemon = start_daemon(config, command or daemon_command())
    return await _wait_for_daemon(config, daemon, log_offset)


def start_daemon(config: Config, command: Sequence[str]) -> subprocess.Popen[bytes]:
    """Start a detached daemon whose stderr appends to the daemon log (0600)."""
    ensure_private_directory(config.state_dir)
    log_descriptor = os.open(
        config.daemon_log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE_MODE
    )
    try:
        daemon = subprocess.Popen(
            list(command),
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log_descriptor,
            cwd="/",
            env=config.daemon_environment(os.environ),
        )
    except OSError as error:
        raise DaemonUnavailable(f"cannot start the daemon ({' '.join(command)}): {error.strerror}") from None
    finally:
        os.close(log_descriptor)
    _started_daemons.append(daemon)
    logger.info("started a daemon, pid %d, logging to %s", daemon.pid, config.daemon_log_path)
    return daemon


async def _wait_for_daemon(config: Config, daemon: subprocess.Popen[bytes], log_offset: int) -> DaemonClient:
    """Poll until a daemon answers hello; fail when ours exited for good or at the deadline."""
    deadline = time.monotonic() + AUTO_START_TIMEOUT_S
    exited_at: float | None = None
    last_problem = "it has not answered yet"
    while True:
        attempt_timeout = max(min(CONNECT_TIMEOUT_S, deadline - time.monotonic()), STARTUP_POLL_INTERVAL_S)
        try:
            return await DaemonClient.connect(config, timeout=attempt_timeout)
        except DaemonUnavailable as problem:  # not listening yet, no token file yet, ...
            last_problem = problem.message
        now = time.monotonic()
        if exited_at is None and daemon.poll() is not None:
            exited_at = now
        gave_up_on_ours = exited_at is not None and now - exited_at >= EXITED_DAEMON_GRACE_S
        if gave_up_on_ours and not _another_daemon_may_hold_the_lock(config):
            raise DaemonUnavailable(
                f"the daemon exited with code {daemon.returncode} before answering"
                f"{_log_excerpt(config.daemon_log_path, log_offset)}"
            )
        if now >= deadline:
            raise DaemonUnavailable(
                f"the daemon (pid {daemon.pid}) did not answer within {AUTO_START_TIMEOUT_S:g} s: "
                f"{last_problem}{_log_excerpt(config.daemon_log_path, log_offset)}"
            )
        await asyncio.sleep(STARTUP_POLL_INTERVAL_S)


def _another_daemon_may_hold_the_lock(config: Config) -> bool:
    """Whether the single-instance lock file names a live process (or is being written): then
    our daemon lost a race and the winner may still answer. We only read the file; taking the
    lock, even briefly, could make a starting daemon believe another one runs."""
    try:
        text = config.lock_path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return False
    except OSError:
        return True
    words = text.split()
    if not words or not words[0].isdigit():
        return True  # created but its pid not written yet
    return _process_exists(int(words[0]))


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _reap_exited_daemons() -> None:
    _started_daemons[:] = [daemon for daemon in _started_daemons if daemon.poll() is None]


def _size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _log_excerpt(path: Path, offset: int) -> str:
    """The last lines the daemon wrote to its log since we started it, quoted for the error."""
    tail = _read_tail(path, offset)
    if not tail:
        return f"; it wrote nothing to its log {path}"
    lines = tail.splitlines()[-LOG_TAIL_LINES:]
    quoted = "\n".join(f"  {line}" for line in lines)
    return f". The last lines of its log {path}:\n{quoted}"


def _read_tail(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as log:
            size = log.seek(0, os.SEEK_END)
            log.seek(max(offset, size - LOG_TAIL_BYTES))
            return log.read().decode("utf-8", errors="replace").strip()
    except OSError:
        return ""
