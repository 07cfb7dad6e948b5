"""How much work each figure of `python -m bench` does: the full run, and `--quick` (every
benchmark at a tiny size, so that none rots; its figures mean nothing)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sizes:
    children: int
    """Idle children managed while memory and the status / list calls are measured."""
    latency_runs: int
    """Timed calls of each latency figure (after a few warm-up calls)."""
    flood_lines: int
    flood_runs: int
    """Floods of each kind of child, for each manager, taken in turn."""
    search_lines: int
    search_runs: int
    group_members: int
    group_runs: int
    startup_runs: int
    settle_s: float
    """Pause before memory is read: starts flushed, the children's own start-up done."""
    install_timeout_s: float
    """For installing supervisord into the benchmark's environment when it is not there yet."""


FULL = Sizes(
    children=50,
    latency_runs=200,
    flood_lines=300_000,
    flood_runs=5,
    search_lines=1_000_000,
    search_runs=21,
    group_members=20,
    group_runs=5,
    startup_runs=7,
    settle_s=1.5,
    install_timeout_s=300.0,
)
QUICK = Sizes(
    children=3,
    latency_runs=5,
    flood_lines=2_000,
    flood_runs=1,
    search_lines=2_000,
    search_runs=2,
    group_members=2,
    group_runs=1,
    startup_runs=1,
    settle_s=0.1,
    install_timeout_s=30.0,
)
