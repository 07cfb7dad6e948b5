"""The keeper: a tiny parent that keeps the daemon's processes alive and heard across a crash.

`python -m pm_actors.app.keeper` starts the daemon as its child and becomes a child subreaper, so that when
the daemon dies its children (the managed processes) are re-parented to the keeper rather
than to init. The daemon tells the keeper about every run and passes it duplicates of the
run's pipe read ends and pidfd (`pm_actors.keeper_protocol`); while the keeper holds them the
pipes stay open, so a child that prints during an outage blocks on a full pipe instead of
dying of a broken one. When the daemon dies the keeper starts a new one at once, hands it
what it holds, and reports the exit status of each child that ended meanwhile (it reaped it).

A daemon that asks to `restart` (an upgrade, new settings) is started again the same way; one
that says `stop` ends the keeper with it, and so does the first daemon failing to start (the
keeper exits with its code, for the launcher to report). A daemon that keeps dying young is
started again with growing delays, and given up after `MAX_QUICK_DEATHS`.

Standard library only, and nothing of ours but the protocol: a few MB of memory.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from pm_actors import keeper_protocol as protocol

logger = logging.getLogger("pm_actors.keeper")

PR_SET_CHILD_SUBREAPER: Final = 36
YOUNG_DEATH_S: Final = 10.0
"""A daemon that dies sooner than this after its start died young (a bug at start-up, a bad
setting): the next start waits longer, so a crash loop never spins."""
RESTARTS_AT_ONCE: Final = 3
"""Young deaths in a row after which the next daemon still starts at once."""
FIRST_RETRY_DELAY_S: Final = 0.1
MAX_RETRY_DELAY_S: Final = 5.0
MAX_QUICK_DEATHS: Final = 10
"""Young deaths in a row before the keeper gives up (about 15 s of trying)."""


@dataclass
class HeldRun:
    run_id: int
    process_id: int
    pid: int
    started_at: float
    fds: list[int]


@dataclass
class Keeper:
    command: Sequence[str]
    held: dict[int, HeldRun] = field(default_factory=dict)
    exits: dict[int, int] = field(default_factory=dict)
    """Exit statuses of held runs' children reaped while no daemon had been told, by pid."""
    final: bool = False
    """The daemon said `stop`: once it exits, so does the keeper."""
    settings: dict[str, str] | None = None
    """The PM_* variables the next daemon runs with, when a restart asked for new ones."""
    planned: bool = False
    """The daemon said `restart`: its end is no death, and the next starts at once."""
    ever_ready: bool = False
    """A daemon said hello. Until one does, a daemon that exits failed to start (a bad
    setting, the database taken): that is reported, not retried."""

    def run(self) -> int:
        set_child_subreaper()
        wakeup_read, wakeup_write = os.pipe()
        os.set_blocking(wakeup_read, False)
        os.set_blocking(wakeup_write, False)
        signal.set_wakeup_fd(wakeup_write)  # each signal writes its number: the selector wakes
        for number in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
            signal.signal(number, lambda number, frame: None)
        quick_deaths = 0
        while True:
            started = time.monotonic()
            code = self._serve_one_daemon(wakeup_read)
            if self.final or not self.ever_ready:
                self._release_all()
                return code
            died_young = not self.planned and time.monotonic() - started < YOUNG_DEATH_S
            quick_deaths = quick_deaths + 1 if died_young else 0
            self.planned = False
            if quick_deaths > MAX_QUICK_DEATHS:
                logger.error("the daemon died %d times in a row at start; giving up", quick_deaths)
                self._release_all()
                return 1
            delay = retry_delay_s(quick_deaths)
            logger.warning("the daemon exited (code %s); starting a new one in %.1f s", code, delay)
            time.sleep(delay)  # a plain process, not an actor: the delay is the whole point

    def _serve_one_daemon(self, wakeup_read: int) -> int:
        """Start a daemon, serve its messages and reap children until it exits; its exit code."""
        ours, theirs = protocol.socket_pair()
        environment = daemon_environment(os.environ, self.settings)
        environment[protocol.KEEPER_FD_VARIABLE] = str(theirs.fileno())
        daemon = subprocess.Popen(list(self.command), pass_fds=(theirs.fileno(),), env=environment)
        theirs.close()
        logger.info("started the daemon, pid %d", daemon.pid)
        selector = selectors.DefaultSelector()
        selector.register(ours, selectors.EVENT_READ, "daemon")
        selector.register(wakeup_read, selectors.EVENT_READ, "signal")
        try:
            while True:
                for key, _ in selector.select():
                    if key.data == "signal":
                        if _signals(wakeup_read) & {signal.SIGTERM, signal.SIGINT}:
                            logger.info("stopping: passing SIGTERM on to the daemon, pid %d", daemon.pid)
                            self.final = True  # and no other daemon after this one
                            daemon.send_signal(signal.SIGTERM)  # stopping us stops the daemon, gracefully
                        code = self._reap(daemon, ours)
                        if code is not None:
                            self._read_last_words(ours)
                            return code
                    elif not self._on_message(ours):
                        selector.unregister(ours)  # the daemon closed its end: its exit follows
        finally:
            selector.close()
            ours.close()

    def _read_last_words(self, connection: socket.socket) -> None:
        """Messages the daemon sent just before it exited (`stop`, `release`) still count."""
        connection.setblocking(False)
        while self._on_message(connection):
            pass

    def _on_message(self, connection: socket.socket) -> bool:
        """Handle the next message; False when there is none (closed, or nothing waiting)."""
        try:
            message, fds = protocol.receive(connection)
        except (protocol.KeeperGone, OSError):
            return False
        op = message.get("op")
        if op == "hold" and len(fds) == 3:
            fields = (message["run_id"], message["process_id"], message["pid"], message["started_at"])
            run = HeldRun(*fields, fds=fds)
            self.held[run.run_id] = run
        elif op == "release":
            self._close(self.held.pop(message["run_id"], None))
            _close_all(fds)
        elif op == "hello":
            self.ever_ready = True
            self._hand_over(connection)
        elif op == "stop":
            self.final = True
        elif op == "restart":
            self.planned = True
            self.settings = (self.settings or {}) | (message.get("settings") or {})
        else:
            logger.warning("ignored an unknown keeper message %r", op)
            _close_all(fds)
        return True

    def _hand_over(self, connection: socket.socket) -> None:
        """Give a new daemon every held run (its descriptors duplicated by the kernel in
        transit) and the exits it missed."""
        runs = list(self.held.values())
        for start in range(0, max(len(runs), 1), protocol.RUNS_PER_HELD_BATCH):
            batch = runs[start : start + protocol.RUNS_PER_HELD_BATCH]
            described = [
                {"run_id": r.run_id, "process_id": r.process_id, "pid": r.pid, "started_at": r.started_at}
                for r in batch
            ]
            fds = [fd for run in batch for fd in run.fds]
            protocol.send(connection, "held", fds, runs=described, last=start + len(batch) >= len(runs))
        for pid, status in self.exits.items():
            protocol.send(connection, "exited", pid=pid, status=status)
        self.exits.clear()

    def _reap(self, daemon: subprocess.Popen[bytes], connection: socket.socket) -> int | None:
        """Reap every child that ended; the daemon's exit code if it was one of them."""
        daemon_code: int | None = None
        while True:
            try:
                pid, wait_status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return daemon_code
            if pid == 0:
                return daemon_code
            status = os.waitstatus_to_exitcode(wait_status)
            if pid == daemon.pid:
                daemon.returncode = status
                daemon_code = status
            elif any(run.pid == pid for run in self.held.values()):
                self._report_exit(connection, pid, status)

    def _report_exit(self, connection: socket.socket, pid: int, status: int) -> None:
        try:
            protocol.send(connection, "exited", pid=pid, status=status)
        except OSError:
            self.exits[pid] = status  # no daemon to tell now: the next one hears it on hello

    def _close(self, run: HeldRun | None) -> None:
        if run is not None:
            _close_all(run.fds)

    def _release_all(self) -> None:
        for run in self.held.values():
            self._close(run)
        self.held.clear()


def daemon_environment(base: Mapping[str, str], settings: dict[str, str] | None) -> dict[str, str]:
    """The keeper's environment with the PM_* `settings` a restart asked for over it."""
    return dict(base) | (settings or {})


def retry_delay_s(quick_deaths: int) -> float:
    """At once after a daemon that lived long, or the first few that died young (its processes
    should not wait); then growing delays, so a crash loop never spins."""
    if quick_deaths <= RESTARTS_AT_ONCE:
        return 0.0
    return float(min(MAX_RETRY_DELAY_S, FIRST_RETRY_DELAY_S * 2.0 ** (quick_deaths - RESTARTS_AT_ONCE - 1)))


def set_child_subreaper() -> None:
    """Orphaned descendants are re-parented to us, not to init (Linux prctl)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def _signals(fd: int) -> set[int]:
    """The numbers of the signals that arrived since the last look (the wakeup fd's bytes)."""
    received: set[int] = set()
    try:
        while data := os.read(fd, 4096):
            received.update(data)
    except BlockingIOError:
        pass
    return received


def _close_all(fds: Sequence[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def main(command: Sequence[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return Keeper(command).run()


if __name__ == "__main__":
    raise SystemExit(main([sys.executable, "-m", "pm_actors", "daemon"]))
