"""The shared wait helper and other small test utilities.

Tests never sleep to wait for an effect: they poll a condition with a deadline here.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable
from typing import TypeVar

import anyio
import psutil

T = TypeVar("T")

PYTHON = sys.executable
PYTHON_ROOT = os.path.dirname(os.path.realpath(sys.executable))
"""Where the test interpreter really lives: a venv python resolves elsewhere, so the allowlist
must name this directory rather than the venv's bin/."""


class WaitTimeout(AssertionError):
    pass


def wait_until(
    condition: Callable[[], T | bool | None],
    timeout: float = 10.0,
    interval: float = 0.005,
    message: str = "condition",
) -> T:
    """Poll `condition` until it returns something truthy, and return that; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while (value := _attempt(condition, deadline, timeout, message)) is None:
        time.sleep(interval)
    return value


async def eventually(
    condition: Callable[[], T | bool | None],
    timeout: float = 10.0,
    interval: float = 0.005,
    message: str = "condition",
) -> T:
    """`wait_until` for async tests: poll without blocking the event loop, fail at the deadline."""
    deadline = time.monotonic() + timeout
    while (value := _attempt(condition, deadline, timeout, message)) is None:
        await anyio.sleep(interval)
    return value


def _attempt(
    condition: Callable[[], T | bool | None], deadline: float, timeout: float, message: str
) -> T | None:
    """The condition's value if truthy; None to try again; WaitTimeout once the deadline passed."""
    value = condition()
    if value:
        return value  # type: ignore[return-value]
    if time.monotonic() >= deadline:
        raise WaitTimeout(f"timed out after {timeout:.1f}s waiting for {message}")
    return None


def python_child(code: str) -> tuple[str, list[str]]:
    """The (command, args) of a short Python child running `code`, unbuffered."""
    return PYTHON, ["-u", "-c", code]


def process_is_gone(pid: int) -> bool:
    """No such process, or only its zombie: it ended and runs nothing. (PID 1 in some
    containers reaps orphans only every few seconds, so an ended orphan lingers as a zombie.)"""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def group_is_gone(process_group: int) -> bool:
    """No process left in the group but zombies (see `process_is_gone`)."""
    try:
        os.killpg(process_group, 0)
    except ProcessLookupError:
        return True
    return all(process_is_gone(pid) for pid in group_members(process_group))


def group_members(process_group: int) -> list[int]:
    members = []
    for pid in psutil.pids():
        with contextlib.suppress(ProcessLookupError):
            if os.getpgid(pid) == process_group:
                members.append(pid)
    return members
