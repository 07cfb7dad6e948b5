"""What the command line prints: tables, colour only where it helps, durations and sizes.

Colour is used only when stdout is a terminal and `NO_COLOR` is not set (https://no-color.org),
so a pipe or a file always gets plain text. Nothing here talks to the daemon.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from typing import Final, TextIO

from pm_actors.states import Health, ProcessState

ANSI: Final = re.compile(r"\x1b\[[0-9;]*m")

STATE_COLOURS: Final = {
    ProcessState.RUNNING: "32",
    ProcessState.STARTING: "36",
    ProcessState.STOPPING: "33",
    ProcessState.BACKOFF: "33",
    ProcessState.EXITED: "2",
    ProcessState.STOPPED: "2",
    ProcessState.CRASHED: "31",
    ProcessState.FATAL: "1;31",
}
HEALTH_COLOURS: Final = {Health.HEALTHY: "32", Health.UNHEALTHY: "31", Health.UNKNOWN: "2"}


def colour_enabled(stream: TextIO = sys.stdout) -> bool:
    """Colour on a terminal only, and never when NO_COLOR is set (to anything non-empty)."""
    return bool(stream.isatty()) and not os.environ.get("NO_COLOR")


class Painter:
    """Wraps text in ANSI colours, or leaves it alone when colour is off."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def paint(self, text: str, code: str | None) -> str:
        if not self.enabled or not code:
            return text
        return f"\x1b[{code}m{text}\x1b[0m"

    def state(self, state: ProcessState) -> str:
        return self.paint(state.value, STATE_COLOURS.get(state))

    def health(self, health: Health) -> str:
        return self.paint(health.value, HEALTH_COLOURS.get(health))

    def error(self, text: str) -> str:
        return self.paint(text, "31")

    def dim(self, text: str) -> str:
        return self.paint(text, "2")


def visible_width(text: str) -> int:
    return len(ANSI.sub("", text))


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], max_last: int = 60) -> str:
    """Columns padded to their widest cell (colour codes not counted); the last column, often
    free text, is cut at `max_last` characters."""
    cut_rows = [[*row[:-1], _cut(row[-1], max_last)] for row in rows] if rows else []
    widths = [
        max([visible_width(header), *(visible_width(row[index]) for row in cut_rows)])
        for index, header in enumerate(headers)
    ]
    lines = [_line(headers, widths)]
    lines.extend(_line(row, widths) for row in cut_rows)
    return "\n".join(lines)


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    padded = [cell + " " * (width - visible_width(cell)) for cell, width in zip(cells, widths, strict=True)]
    return "  ".join(padded).rstrip()


def _cut(text: str, limit: int) -> str:
    if visible_width(text) <= limit:
        return text
    return ANSI.sub("", text)[: limit - 1] + "…"


def duration(seconds: float | None) -> str:
    """A short human duration: 45s, 12m, 3h12m, 2d4h; '-' when unknown."""
    if seconds is None or seconds < 0:
        return "-"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s" if minutes < 10 else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h"


def megabytes(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f} MB" if value >= 10 else f"{value:.1f} MB"


def byte_size(size: int) -> str:
    units = ("B", "KB", "MB", "GB", "TB")
    value = float(size)
    for unit in units:
        if value < 1024 or unit == units[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
