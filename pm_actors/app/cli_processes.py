"""The command line's process commands: ps, start, stop, restart, kill, rm, info, wait.

Each takes the parsed arguments and a `Console`, calls the daemon through the one client
session, prints for a person (or JSON), and returns the exit code."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from pm_actors.api import (
    DeleteProcess,
    GetProcessInfo,
    GetProcessStats,
    KillProcess,
    ListProcesses,
    RequestUnion,
    RestartProcess,
    StartProcess,
    StopProcess,
    WaitFor,
)
from pm_actors.app.console import EXIT_FAILURE, EXIT_OK, Console, UsageError
from pm_actors.app.terminal import duration, megabytes, table
from pm_actors.errors import PmError
from pm_actors.results import ProcessRecord, ProcessStats
from pm_actors.states import ProcessState

LAST_ERROR_WORDS = 8
"""`ps` shows why a process ended in a few words; `info` has the whole reason."""


def ps(arguments: argparse.Namespace, console: Console) -> int:
    if arguments.watch is None:
        console.print(_process_table(console, arguments.json))
        return EXIT_OK
    try:
        while True:
            screen = _process_table(console, arguments.json)
            console.print(("\x1b[H\x1b[J" if console.painter.enabled else "") + screen)
            time.sleep(arguments.watch)  # the refresh cadence the person asked for
    except KeyboardInterrupt:
        return EXIT_OK


def _process_table(console: Console, as_json: bool) -> str:
    records: list[ProcessRecord] = console.caller.call(ListProcesses()).processes
    running = [record for record in records if record.state is ProcessState.RUNNING]
    stats = console.caller.call_all([GetProcessStats(name=record.name) for record in running])
    by_name = {
        record.name: outcome
        for record, outcome in zip(running, stats, strict=True)
        if isinstance(outcome, ProcessStats)
    }
    if as_json:
        rows = [{"record": record, "stats": by_name.get(record.name)} for record in records]
        return msgspec.json.encode(rows).decode()
    if not records:
        return "No managed processes. Start one: pm-actors start NAME -- COMMAND [ARGS...]"
    headers = ["NAME", "STATE", "PID", "UPTIME", "RESTARTS", "CPU", "MEMORY", "PORTS", "HEALTH", "LAST"]
    return table(headers, [_row(console, record, by_name.get(record.name)) for record in records])


def _row(console: Console, record: ProcessRecord, stats: ProcessStats | None) -> list[str]:
    painter = console.painter
    # What explains a crash says more than how the run ended ("exited on its own with code 1").
    last = " ".join((record.crash or record.end_reason or "").split()[:LAST_ERROR_WORDS])
    if record.state in (ProcessState.CRASHED, ProcessState.FATAL):
        last = painter.error(last)
    return [
        record.name,
        painter.state(record.state),
        str(record.pid) if record.pid else "-",
        duration(stats.uptime_s) if stats else "-",
        str(record.restarts),
        f"{stats.cpu_percent:.0f}%" if stats else "-",
        megabytes(stats.tree_rss_mb) if stats else "-",
        ",".join(map(str, stats.listening_ports)) if stats and stats.listening_ports else "-",
        painter.health(record.health),
        last or "-",
    ]


def start(arguments: argparse.Namespace, console: Console) -> int:
    """With a command after `--`: declare and start one process. Without: start the stored
    definitions of the named processes (or of all) again."""
    argv = list(arguments.argv)
    if not argv:
        return _for_each(console, arguments, lambda name: StartProcess(name=name))
    if arguments.all or len(arguments.names) != 1:
        raise UsageError("a command after -- starts one process: give exactly one name before it")
    fields: dict[str, Any] = {"env": _environment(arguments.env)}
    for option, field in (
        ("restart", "restart"),
        ("max_restarts", "max_restarts"),
        ("stop_timeout", "stop_timeout_s"),
    ):
        if getattr(arguments, option) is not None:
            fields[field] = getattr(arguments, option)
    name = arguments.names[0]
    request = StartProcess(name=name, command=argv[0], args=argv[1:], cwd=arguments.cwd, **fields)
    record: ProcessRecord = console.caller.call(request)
    console.print(record.summary())
    return EXIT_OK


def _environment(pairs: Sequence[str]) -> dict[str, str]:
    environment: dict[str, str] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise UsageError(f"-e {pair!r}: give KEY=VALUE")
        environment[key] = value
    return environment


def stop(arguments: argparse.Namespace, console: Console) -> int:
    return _for_each(console, arguments, lambda name: StopProcess(name=name))


def restart(arguments: argparse.Namespace, console: Console) -> int:
    return _for_each(console, arguments, lambda name: RestartProcess(name=name))


def kill(arguments: argparse.Namespace, console: Console) -> int:
    return _for_each(console, arguments, lambda name: KillProcess(name=name, signal=arguments.signal))


def rm(arguments: argparse.Namespace, console: Console) -> int:
    return _for_each(console, arguments, lambda name: DeleteProcess(name=name))


def _for_each(
    console: Console, arguments: argparse.Namespace, request_for: Callable[[str], RequestUnion]
) -> int:
    """One request per named process (or every one with --all), all at once; each outcome
    printed; a failure of any makes the exit code 1."""
    names = _names(console, arguments)
    outcomes = console.caller.call_all([request_for(name) for name in names])
    failed = False
    for name, outcome in zip(names, outcomes, strict=True):
        if isinstance(outcome, PmError):
            failed = True
            console.print_error(f"{name}: {outcome.code}: {outcome.message}")
        else:
            console.print(outcome.summary())
    return EXIT_FAILURE if failed else EXIT_OK


def _names(console: Console, arguments: argparse.Namespace) -> list[str]:
    if arguments.all and arguments.names:
        raise UsageError("give process names or --all, not both")
    if arguments.all:
        return [record.name for record in console.caller.call(ListProcesses()).processes]
    if not arguments.names:
        raise UsageError(f"name the processes to {arguments.command}, or give --all")
    return list(arguments.names)


def info(arguments: argparse.Namespace, console: Console) -> int:
    result = console.caller.call(GetProcessInfo(name=arguments.name))
    console.print(msgspec.json.encode(result).decode() if arguments.json else result.summary())
    return EXIT_OK


def wait(arguments: argparse.Namespace, console: Console) -> int:
    if arguments.port is not None:
        request = WaitFor(name=arguments.name, until="port", port=arguments.port, timeout_s=arguments.timeout)
    elif arguments.line is not None:
        request = WaitFor(
            name=arguments.name, until="log_line", pattern=arguments.line, timeout_s=arguments.timeout
        )
    elif arguments.healthy:
        request = WaitFor(name=arguments.name, until="healthy", timeout_s=arguments.timeout)
    else:
        request = WaitFor(name=arguments.name, until="exited", timeout_s=arguments.timeout)
    result = console.caller.call(request, waiting=f"waiting for {arguments.name} ({request.until})")
    console.print(result.summary())
    return EXIT_OK if result.satisfied else EXIT_FAILURE
