"""The command line's daemon commands: `status` and `daemon run|start|stop|restart|status`.

Unlike the other commands these never start a daemon by surprise: `status` and `daemon stop`
report that none runs. `daemon stop` sends SIGTERM to the pid the daemon gave in its welcome,
and waits for it to exit: the daemon stops every process it manages first. `daemon restart`
of a daemon under its keeper (how one is started in the background) hands every process over
to a new daemon, which runs this pm-actors with this shell's PM_* settings: nothing stops.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import time
from typing import Final

import msgspec
import psutil

from pm_actors.api import GetDaemonStatus
from pm_actors.app.console import EXIT_FAILURE, EXIT_OK, Console
from pm_actors.config import DAEMON_SETTINGS, Config
from pm_actors.errors import DaemonUnavailable
from pm_actors.ipc.client import DaemonClient, DaemonOfOtherRelease, NoDaemonListening
from pm_actors.ipc.launcher import connect_or_start
from pm_actors.ipc.protocol import Welcome
from pm_actors.ipc.settings_check import NOT_BY_RESTART, restart_kept_daemon
from pm_actors.logging_setup import configure_logging
from pm_actors.results import DaemonStatus

DAEMON_EXIT_TIMEOUT_S: Final = 3700.0
"""A daemon stops every process in parallel, each within its stop timeout (at most an hour)."""
EXIT_POLL_S: Final = 0.05


def status(arguments: argparse.Namespace, console: Console) -> int:
    current = _running_status(console)
    if current is None:
        console.print(f"No daemon is running (socket {console.config.daemon_address}).")
        return EXIT_FAILURE
    console.print(
        msgspec.json.encode(current).decode() if getattr(arguments, "json", False) else current.summary()
    )
    return EXIT_OK


def daemon(arguments: argparse.Namespace, console: Console) -> int:
    action: str = arguments.action
    if action == "run":
        from pm_actors.app.daemon import run_daemon

        configure_logging(console.config)  # the daemon's own log, at PM_LOG_LEVEL
        run_daemon(console.config)
        return EXIT_OK
    if action == "status":
        return status(arguments, console)
    if action == "stop":
        return EXIT_OK if _stop(console) else EXIT_FAILURE
    if action == "restart" and _restart_kept(console):
        return EXIT_OK
    if action == "restart":
        _stop(console)
    return _start(console)


def _restart_kept(console: Console) -> bool:
    """Restart a daemon under its keeper, its processes running on; False if none runs so."""

    async def restart() -> tuple[int, DaemonStatus] | None:
        welcome = await _welcome(console.config)
        if welcome is None or not welcome.kept:
            return None
        config, old_pid = console.config, welcome.daemon_pid
        names = sorted((config.explicit & set(DAEMON_SETTINGS)) - NOT_BY_RESTART)
        async with await restart_kept_daemon(config, old_pid, names) as fresh:
            return old_pid, await fresh.call(GetDaemonStatus())

    restarted = asyncio.run(restart())
    if restarted is None:
        return False
    old_pid, current = restarted
    console.print(
        f"Daemon restarted (pid {old_pid} -> {current.pid}, pm-actors {current.version}); "
        f"{current.running_processes} of {current.managed_processes} managed processes running, none stopped."
    )
    return True


def _running_status(console: Console) -> DaemonStatus | None:
    async def ask() -> DaemonStatus | None:
        try:
            client = await DaemonClient.connect(console.config)
        except NoDaemonListening:
            return None
        async with client:
            result: DaemonStatus = await client.call(GetDaemonStatus())
            return result

    return asyncio.run(ask())


def _start(console: Console) -> int:
    current = _running_status(console)
    if current is not None:
        console.print(f"The daemon is already running (pid {current.pid}).")
        return EXIT_OK

    async def start() -> int:
        async with await connect_or_start(console.config) as client:
            return client.welcome.daemon_pid

    pid = asyncio.run(start())
    console.print(f"Daemon started (pid {pid}), logging to {console.config.daemon_log_path}.")
    return EXIT_OK


def _stop(console: Console) -> bool:
    welcome = asyncio.run(_welcome(console.config))
    if welcome is None:
        console.print(f"No daemon is running (socket {console.config.daemon_address}).")
        return False
    pid = welcome.daemon_pid
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + DAEMON_EXIT_TIMEOUT_S
    while _alive(pid):
        if time.monotonic() >= deadline:
            raise DaemonUnavailable(
                f"the daemon (pid {pid}) did not exit; its log is {console.config.daemon_log_path}"
            )
        time.sleep(EXIT_POLL_S)  # polling the pid of a process that is not our child
    console.print(f"Daemon stopped (pid {pid}); the processes it managed were stopped with it.")
    return True


async def _welcome(config: Config) -> Welcome | None:
    """The running daemon's welcome, even from a daemon of another release (to stop or restart
    it); None when no daemon answers."""
    try:
        client = await DaemonClient.connect(config)
    except NoDaemonListening:
        return None
    except DaemonOfOtherRelease as other:
        return other.welcome
    await client.close()
    return client.welcome


def _alive(pid: int) -> bool:
    """Whether the process runs; an ended one that its parent has not reaped yet does not."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
