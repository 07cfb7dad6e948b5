"""The one seam for OS effects on a child: spawn, signal its group, reap.

Every child gets its own session (and so its own process group, whose id is the child's pid),
no stdin (or a pipe to it, if asked for), and two output pipes. We signal the group id we
created, never `getpgid()` of a pid that may have been reused. A pidfd lets the single IO
thread learn of the exit through the same selector that reads the pipes, so no thread waits
per child.
"""

from __future__ import annotations

import contextlib
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
        if popen.stdin is not None:
            os.set_blocking(popen.stdin.fileno(), False)
        self.pidfd = os.pidfd_open(popen.pid)

    @property
    def has_input(self) -> bool:
        """Whether it was spawned with a pipe to its standard input."""
        return self._popen.stdin is not None

    @property
    def input_open(self) -> bool:
        return self._popen.stdin is not None and not self._popen.stdin.closed

    def write_input(self, data: bytes) -> int:
        """Write what the pipe takes now, without blocking; returns how many bytes that was.
        Raises BrokenPipeError if the child closed its input, ValueError if we did."""
        if self._popen.stdin is None or self._popen.stdin.closed:
            raise ValueError("the input pipe is closed")
        try:
            return os.write(self._popen.stdin.fileno(), data)
        except BlockingIOError:
            return 0

    def close_input(self) -> None:
        """End of file for the child; harmless if there is no pipe or it is closed."""
        if self._popen.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                self._popen.stdin.close()

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
    executable: str,
    argv0: str,
    args: Sequence[str],
    cwd: str,
    env: Mapping[str, str],
    stdin: bool = False,
) -> SpawnedChild:
    """Start a child in a new session, never through a shell. Raises OSError if exec fails.
    With `stdin`, it gets a pipe to its standard input instead of /dev/null."""
    popen = subprocess.Popen(
        [argv0, *args],
        executable=executable,
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        close_fds=True,
        shell=False,
    )
    return SpawnedChild(popen)


def signal_name(signal_number: int) -> str:
    try:
        return signal.Signals(signal_number).name
    except ValueError:
        return f"signal {signal_number}"
