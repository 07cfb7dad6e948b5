"""The daemon's side of the keeper: tell it about runs, adopt what it held, hear exits.

When the daemon runs under a keeper (`PM_KEEPER_FD` is set), each run's pipe read ends and
pidfd are handed to the keeper as the run starts and taken back when it ends, so a crash of
the daemon closes none of them. At start the daemon asks what the keeper holds: the runs a
dead daemon left, each with duplicates of its descriptors, to adopt. A child the keeper reaps
(it was re-parented to the keeper when the old daemon died) is reported as `exited`.

Without a keeper (a daemon started by hand, the in-process backend) every call is a no-op.
Thread-safe: ProcessActors call it from their own threads.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from pm_actors import keeper_protocol as protocol

logger = logging.getLogger(__name__)

HELLO_TIMEOUT_S: Final = 10.0
"""The keeper answers hello at once; a keeper that does not is stuck, and the daemon goes on
without adopting rather than hanging at start."""


@dataclass(frozen=True)
class AdoptedRun:
    """A run a dead daemon left, still alive (or ended, its exit in `KeeperLink.exits`)."""

    run_id: int
    process_id: int
    pid: int
    started_at: float
    stdout_fd: int
    stderr_fd: int
    pidfd: int


class KeeperLink:
    def __init__(self, connection: socket.socket | None) -> None:
        self._connection = connection
        self._lock = threading.Lock()
        self._on_exit: Callable[[int, int], None] | None = None
        self._on_gone: Callable[[], None] | None = None
        self._reader: threading.Thread | None = None

    @classmethod
    def from_environment(cls, environment: Mapping[str, str] = os.environ) -> KeeperLink:
        value = environment.get(protocol.KEEPER_FD_VARIABLE)
        if not value:
            return cls(None)
        return cls(socket.socket(fileno=int(value)))

    @property
    def attached(self) -> bool:
        return self._connection is not None

    def adopt(self) -> tuple[list[AdoptedRun], dict[int, int]]:
        """Ask the keeper what it holds: the runs to adopt, and the exit statuses (by pid) of
        held children that ended while no daemon ran."""
        connection = self._connection
        if connection is None:
            return [], {}
        connection.settimeout(HELLO_TIMEOUT_S)
        protocol.send(connection, "hello")
        runs: list[AdoptedRun] = []
        exits: dict[int, int] = {}
        while True:
            message, fds = protocol.receive(connection)
            if message["op"] == "exited":
                exits[message["pid"]] = message["status"]
                continue
            runs.extend(_adopted(message["runs"], fds))
            if message["last"]:
                break
        connection.settimeout(None)
        return runs, exits

    def listen(self, on_exit: Callable[[int, int], None], on_gone: Callable[[], None]) -> None:
        """From now on, `on_exit(pid, status)` for each child the keeper reaps, and `on_gone()`
        if the keeper goes away (on a thread of its own)."""
        if self._connection is None:
            return
        self._on_exit = on_exit
        self._on_gone = on_gone
        self._reader = threading.Thread(target=self._read_exits, name="pm-keeper-link", daemon=True)
        self._reader.start()

    def hold(
        self, run_id: int, process_id: int, pid: int, started_at: float, fds: tuple[int, int, int]
    ) -> None:
        """A run began: the keeper keeps duplicates of (stdout, stderr, pidfd)."""
        self._send("hold", list(fds), run_id=run_id, process_id=process_id, pid=pid, started_at=started_at)

    def release(self, run_id: int) -> None:
        self._send("release", run_id=run_id)

    def stop(self) -> None:
        """The daemon ends for good: the keeper ends after it."""
        self._send("stop")

    def restart(self, settings: dict[str, str] | None = None) -> None:
        """The daemon ends to be started again (with these PM_* settings, if given); the
        processes run on."""
        self._send("restart", settings=settings)

    def _send(self, op: str, fds: list[int] | None = None, **fields: object) -> None:
        if self._connection is None:
            return
        try:
            with self._lock:
                protocol.send(self._connection, op, fds, **fields)
        except OSError as error:
            logger.warning("could not tell the keeper %s: %s", op, error)

    def _read_exits(self) -> None:
        """Runs on the pm-keeper-link thread until the keeper goes away."""
        connection = self._connection
        while connection is not None:
            try:
                message, fds = protocol.receive(connection)
            except (protocol.KeeperGone, OSError):
                logger.warning("the keeper is gone: a crash of this daemon would now stop its processes")
                if self._on_gone is not None:
                    self._on_gone()
                return
            for fd in fds:
                os.close(fd)
            if message.get("op") == "exited" and self._on_exit is not None:
                self._on_exit(message["pid"], message["status"])


def _adopted(described: list[dict[str, int | float]], fds: list[int]) -> list[AdoptedRun]:
    runs = []
    for index, run in enumerate(described):
        stdout_fd, stderr_fd, pidfd = fds[3 * index : 3 * index + 3]
        runs.append(
            AdoptedRun(
                run_id=int(run["run_id"]),
                process_id=int(run["process_id"]),
                pid=int(run["pid"]),
                started_at=float(run["started_at"]),
                stdout_fd=stdout_fd,
                stderr_fd=stderr_fd,
                pidfd=pidfd,
            )
        )
    return runs
