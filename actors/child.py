"""The one seam for OS effects on a child: spawn, signal its group, reap.

Every child gets its own session (and so its own process group, whose id is the child's pid),
no stdin, and two pipes. We signal the group id we created, never `getpgid()` of a pid that
may have been reused. A pidfd lets the single IO thread learn of the exit through the same
selector that reads the pipes, so no thread waits per child.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence

logger = logging.getLogger(__name__)


class SpawnedChild:
    """A running child: its pid (= its process group id), pipes and pidfd."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        if popen.stdout is None or popen.stderr is None:
            raise ValueError("a SpawnedChild needs both output pipes")
        self._popen = popen
        self.pid = popen.pid
        self.process_group = popen.pid
        self.stdout_fd = popen.stdout.fileno()
        self.stderr_fd = popen.stderr.fileno()
        os.set_blocking(self.stdout_fd, False)
        os.set_blocking(self.stderr_fd, False)
        self.pidfd = os.pidfd_open(popen.pid)

    def signal_group(self, signal_number: int) -> bool:
        """Send a signal to the child's whole process group; False if nobody is left in it."""
        try:
            os.killpg(self.process_group, signal_number)
        except ProcessLookupError:
            return False
        return True

    def reap(self) -> int | None:
        """The exit status if the child has ended (negative: the signal number), else None."""
        return self._popen.poll()

    def close_pidfd(self) -> None:
        os.close(self.pidfd)

    def close_pipe(self, fd: int) -> None:
        """Close one of our pipe ends; Popen's file objects own them, so close those."""
        for stream in (self._popen.stdout, self._popen.stderr):
            if stream is not None and not stream.closed and stream.fileno() == fd:
                stream.close()


def spawn(
    exec_path: str, descriptor: int, argv: Sequence[str], cwd: str, env: Mapping[str, str]
) -> SpawnedChild:
    """Start a child in a new session, never through a shell. `exec_path` is
    `/proc/self/fd/<descriptor>` of a checked executable (`executables.ExecPlan`): the
    descriptor is passed through so the exec runs that very file. Raises OSError if exec fails."""
    popen = subprocess.Popen(
        list(argv),
        executable=exec_path,
        pass_fds=(descriptor,),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        close_fds=True,
        shell=False,
    )
    return SpawnedChild(popen)


def spawn_check(
    exec_path: str, descriptor: int, argv: Sequence[str], env: Mapping[str, str]
) -> subprocess.Popen[bytes]:
    """Start a command health check like `spawn`, its stdout and stderr merged into one pipe."""
    return subprocess.Popen(
        list(argv),
        executable=exec_path,
        pass_fds=(descriptor,),
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        close_fds=True,
        shell=False,
    )


def signal_name(signal_number: int) -> str:
    try:
        return signal.Signals(signal_number).name
    except ValueError:
        return f"signal {signal_number}"
