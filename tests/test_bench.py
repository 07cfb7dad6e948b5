"""`python -m bench --quick`: every benchmark runs, at a tiny size, so that none rots.

Its figures mean nothing; what counts is that every suite ran against a real daemon (and
supervisord, when the benchmark's environment can have it) and printed its rows."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIGURES = (
    "daemon RSS with",
    "status over the socket",
    "list_processes with",
    "start_process until running, MCP raw",
    "stop_process",
    "a write per line: all stored",
    "block-buffered: all stored",
    "then every line searchable",
    "start_group",
    "spawn to initialize answered",
    "MCP: substring",
    "retention trimming",
    "error detection on",
    "every traceback counted",
)
RUN_TIMEOUT_S = 110


@pytest.mark.timeout(RUN_TIMEOUT_S + 10)
def test_every_benchmark_runs_at_a_tiny_size_and_prints_its_row() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert run.returncode == 0, f"{run.stdout[-2000:]}\n{run.stderr[-4000:]}"
    missing = [figure for figure in FIGURES if figure not in run.stdout]
    assert not missing, run.stdout
    assert "LEFT BEHIND" not in run.stdout
