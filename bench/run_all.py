"""Runs every benchmark of `python -m bench` in one go and prints one table (see `__main__.py`).

The order matters: memory and the status call are read with the idle children before any
flood has grown the daemon's caches; searches run on a store of their own (the floods' lines
cleared first); the retention figure takes two fresh daemons.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from typing import TextIO

import psutil
import suite_floods
import suite_processes
import suite_search
from bench_daemon import Measurements, kill_all, private_folder, report_log_on_failure
from managers import Bench, pm_daemon, supervisord
from peer import peer_python
from report import Report
from sizes import FULL, QUICK, Sizes


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every benchmark at a tiny size (for the tests)")
    parser.add_argument("--no-peer", action="store_true", help="leave supervisord out")
    return parser.parse_args()


async def run(
    sizes: Sizes, folder: Path, log: TextIO, python: Path | None, missing: str, report: Report
) -> None:
    scripts = suite_floods.write_scripts(folder)
    async with pm_daemon(folder / "pm") as pm:
        if python is None:
            await run_suites(Bench(sizes, folder, log, pm, None, missing, report), scripts)
            return
        programs = suite_processes.peer_programs(sizes.children)
        floods, logs = suite_floods.peer_programs(scripts, sizes.flood_lines, folder / "sv")
        with supervisord(python, folder / "sv", programs | floods, logs, log) as peer:
            await run_suites(Bench(sizes, folder, log, pm, peer, missing, report), scripts)


async def run_suites(bench: Bench, scripts: dict[str, Path]) -> None:
    await suite_processes.measure(bench)
    await suite_floods.measure(bench, scripts)
    await suite_search.groups(bench)
    suite_search.startup(bench)
    await suite_search.measure(bench)
    await suite_floods.retention(bench, scripts["block"])


def main() -> None:
    arguments = parse_arguments()
    sizes = QUICK if arguments.quick else FULL
    # A SIGTERM to the bench unwinds like Ctrl-C, through every `finally` that ends a process.
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    python, missing = (
        (None, "left out (--no-peer)") if arguments.no_peer else peer_python(sizes.install_timeout_s)
    )
    report = Report()
    if arguments.quick:
        report.notes.append("--quick: every benchmark at a tiny size; these figures mean nothing")
    with private_folder() as folder:
        log_path = folder / "managers.log"
        try:
            with log_path.open("w") as log:
                asyncio.run(run(sizes, folder, log, python, missing, report))
        except BaseException:
            report_log_on_failure(log_path)
            report.notes.append("the run failed: the figures above are those measured before")
            raise
        finally:
            left = Measurements()
            kill_all(psutil.Process().children(recursive=True), "bench", left)
            report.notes.extend(left.notes)
            report.print()
