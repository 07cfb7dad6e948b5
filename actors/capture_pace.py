"""How busy capture is: whether the writer's idle time may go to error detection now.

Detection is pure Python: while it runs, the IO thread and the writer wait for the interpreter
lock. During a flood that would slow capture itself, so detection yields while lines are
stored faster than `BUSY_LINES_PER_S`, and catches up once the flood eases (a flood's errors
are counted a few seconds late; a steady log of hundreds of lines a second is checked as it
comes). Capture has no such rival in full-text indexing, which runs inside SQLite without the
lock. Used on the writer's thread only.
"""

from __future__ import annotations

from typing import Final

WINDOW_S: Final = 0.1
"""The span over which the pace is measured: short enough that detection resumes soon after a
flood, long enough to see one through the gaps between its batches."""
BUSY_LINES_PER_S: Final = 50_000
"""A pace that only a flood reaches: a chatty dev server prints a few thousand lines a second."""


class CapturePace:
    def __init__(self) -> None:
        self._window_start = 0.0
        self._lines = 0
        self._previous_lines = 0

    def stored(self, lines: int, now: float) -> None:
        """`lines` were committed at `now` (time.monotonic())."""
        self._roll(now)
        self._lines += lines

    def busy(self, now: float) -> bool:
        """Whether lines came at a flood's pace over the last window or two."""
        self._roll(now)
        return self._lines + self._previous_lines > BUSY_LINES_PER_S * WINDOW_S

    def _roll(self, now: float) -> None:
        elapsed = now - self._window_start
        if elapsed < WINDOW_S:
            return
        self._previous_lines = self._lines if elapsed < 2 * WINDOW_S else 0
        self._lines = 0
        self._window_start = now
