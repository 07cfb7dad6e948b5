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
from collections.abc import Awaitable, Callable
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
    parser.add_argument(
        "--only",
        type=lambda text: text.split(","),
        default=None,
        help="some of the suites, comma-separated: processes, floods, groups, startup, search, retention",
    )
    return parser.parse_args()


SUITES: dict[str, Callable[[Bench, dict[str, Path]], Awaitable[None]]] = {
    "processes": lambda bench, scripts: suite_processes.measure(bench),
    "floods": suite_floods.measure,
    "groups": lambda bench, scripts: suite_search.groups(bench),
    "startup": lambda bench, scripts: asyncio.to_thread(suite_search.startup, bench),
    "search": lambda bench, scripts: suite_search.measure(bench),
    "retention": lambda bench, scripts: suite_floods.retention(bench),
}
"""Every suite, in the order they run (see above)."""


async def run(
    sizes: Sizes, folder: Path, log: TextIO, peer: tuple[Path | None, str], report: Report, only: list[str]
) -> None:
    scripts = suite_floods.write_scripts(folder)
    python, missing = peer
    async with pm_daemon(folder / "pm") as pm:
        if python is None:
            await run_suites(Bench(sizes, folder, log, pm, None, missing, report), scripts, only)
            return
        programs = suite_processes.peer_programs(sizes.children)
        floods, logs = suite_floods.peer_programs(scripts, sizes.flood_lines, folder / "sv")
        with supervisord(python, folder / "sv", programs | floods, logs, log) as supervisor:
            await run_suites(Bench(sizes, folder, log, pm, supervisor, missing, report), scripts, only)


async def run_suites(bench: Bench, scripts: dict[str, Path], only: list[str]) -> None:
    for name, suite in SUITES.items():
        if name in only:
            await suite(bench, scripts)


def main() -> None:
    arguments = parse_arguments()
    sizes = QUICK if arguments.quick else FULL
    # A SIGTERM to the bench unwinds like Ctrl-C, through every `finally` that ends a process.
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    only = arguments.only or list(SUITES)
    unknown = set(only) - set(SUITES)
    if unknown:
        raise SystemExit(f"python -m bench: no suite {', '.join(sorted(unknown))} (see --help)")
    peer = (None, "left out (--no-peer)") if arguments.no_peer else peer_python(sizes.install_timeout_s)
    report = Report()
    if arguments.quick:
        report.notes.append("--quick: every benchmark at a tiny size; these figures mean nothing")
    with private_folder() as folder:
        log_path = folder / "managers.log"
        try:
            with log_path.open("w") as log:
                asyncio.run(run(sizes, folder, log, peer, report, only))
        except BaseException:
            report_log_on_failure(log_path)
            report.notes.append("the run failed: the figures above are those measured before")
            raise
        finally:
            left = Measurements()
            kill_all(psutil.Process().children(recursive=True), "bench", left)
            report.notes.extend(left.notes)
            report.print()
