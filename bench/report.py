"""The one table of `python -m bench`: each figure, pm-actors beside its baseline, the goal, met or not.

A figure is a `Sample` (every run's value: the median is quoted, min-max beside it) and a
baseline measured in the same run: supervisord doing the same work, or the physical floor
(the child alone, the SDK's ping, apsw in one process). A `Goal` says how the two must
compare; `met?` is its verdict on the medians.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Sample:
    """Every run's value of one figure, in `unit` ("ms", "s", "MB", "%")."""

    values: tuple[float, ...]
    unit: str

    @classmethod
    def of(cls, values: Sequence[float], unit: str) -> Sample:
        if not values:
            raise ValueError("a sample needs at least one value")
        return cls(tuple(values), unit)

    @classmethod
    def seconds_as_ms(cls, seconds: Sequence[float]) -> Sample:
        return cls.of([value * 1000 for value in seconds], "ms")

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def text(self) -> str:
        low, high = min(self.values), max(self.values)
        spread = f" ({number(low)}-{number(high)})" if len(self.values) > 1 else ""
        return f"{number(self.median)} {self.unit}{spread}"


def number(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if abs(value) >= 1 else f"{value:.3f}"


@dataclass(frozen=True)
class Goal:
    """How pm-actors' median must compare with the baseline's (or with a fixed bound)."""

    text: str
    check: Callable[[float, float], bool] | None
    """(pm median, baseline median) -> met; None: a figure shown for context only."""
    needs_baseline: bool = True

    @classmethod
    def ratio_at_most(cls, ratio: float) -> Goal:
        return cls(f"<= {ratio:g}x", lambda pm, base: pm <= ratio * base)

    @classmethod
    def plus_at_most(cls, extra: float, unit: str) -> Goal:
        return cls(f"<= base + {extra:g} {unit}", lambda pm, base: pm <= base + extra)

    @classmethod
    def at_most(cls, bound: float, unit: str) -> Goal:
        return cls(f"<= {bound:,g} {unit}", lambda pm, base: pm <= bound, needs_baseline=False)

    @classmethod
    def context(cls, text: str = "-") -> Goal:
        return cls(text, None)


@dataclass
class Row:
    figure: str
    pm: Sample | None
    goal: Goal
    baseline: Sample | None = None
    baseline_name: str = ""
    note: str = ""
    """Why a value is missing (e.g. `supervisord unavailable`, `not measured here`)."""

    def cells(self) -> tuple[str, str, str, str, str, str]:
        pm = self.pm.text() if self.pm is not None else (self.note or "-")
        if self.baseline is not None:
            base = f"{self.baseline_name}: {self.baseline.text()}"
        else:
            base = f"{self.baseline_name}: {self.note}" if self.note and self.pm is not None else "-"
        ratio = "-"
        if self.pm is not None and self.baseline is not None and self.baseline.median:
            ratio = f"{self.pm.median / self.baseline.median:.2f}x"
        return (self.figure, pm, base, ratio, self.goal.text, self.verdict())

    def verdict(self) -> str:
        if self.goal.check is None or self.pm is None:
            return "-"
        if self.baseline is None:
            if self.goal.needs_baseline:
                return "n/a"
            return "yes" if self.goal.check(self.pm.median, 0.0) else "NO"
        return "yes" if self.goal.check(self.pm.median, self.baseline.median) else "NO"


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.rows.append(row)

    def print(self) -> None:
        header = ("figure", "pm-actors median (min-max)", "baseline, same run", "ratio", "goal", "met?")
        table = [header, *(row.cells() for row in self.rows)]
        widths = [max(len(row[column]) for row in table) for column in range(len(header))]
        for index, cells in enumerate(table):
            print(" | ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip())
            if index == 0:
                print("-|-".join("-" * width for width in widths))
        for note in self.notes:
            print(f"note: {note}")


WARMUP_RUNS = 3


async def timed_async(
    action: Callable[[], Awaitable[object]],
    runs: int,
    after: Callable[[], Awaitable[object]] | None = None,
    warmup: int = WARMUP_RUNS,
) -> Sample:
    """Milliseconds of `action` over `runs` runs after `warmup` runs; `after` runs untimed."""
    timings = []
    for number in range(warmup + runs):
        started = time.perf_counter()
        await action()
        elapsed = time.perf_counter() - started
        if after is not None:
            await after()
        if number >= warmup:
            timings.append(elapsed)
    return Sample.seconds_as_ms(timings)


def timed(
    action: Callable[[], object],
    runs: int,
    after: Callable[[], object] | None = None,
    warmup: int = WARMUP_RUNS,
) -> Sample:
    """`timed_async` for blocking calls."""
    timings = []
    for number in range(warmup + runs):
        started = time.perf_counter()
        action()
        elapsed = time.perf_counter() - started
        if after is not None:
            after()
        if number >= warmup:
            timings.append(elapsed)
    return Sample.seconds_as_ms(timings)
