"""The shared wait helper and other small test utilities.

Tests never sleep to wait for an effect: they poll a condition with a deadline here.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import TypeVar

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
    while True:
        value = condition()
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"timed out after {timeout:.1f}s waiting for {message}")
        time.sleep(interval)


def python_child(code: str) -> tuple[str, list[str]]:
    """The (command, args) of a short Python child running `code`, unbuffered."""
    return PYTHON, ["-u", "-c", code]
