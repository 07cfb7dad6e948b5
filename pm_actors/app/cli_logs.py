"""`pm-actors logs` and `pm-actors search`: a process's output, and following it.

`logs -f` shows new lines as they are stored, through the daemon's push stream. The daemon
announces that a process's output changed (a topic, coalesced to at most one event per 100 ms);
we then read the new lines after the last one shown. No polling: a line is shown within the
event's delay. The client session keeps the subscription across a daemon restart and
reconnection; a read after each quiet spell of `RESYNC_S` catches what was stored while no
daemon could tell us (the read costs nothing when there is nothing new).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
from collections.abc import Callable
from typing import Final

from pm_actors.api import GetLogs, SearchLogs, TailLogs, Topic
from pm_actors.app.console import EXIT_FAILURE, EXIT_OK, Console, UsageError
from pm_actors.client_regex import compile_client_regex
from pm_actors.errors import DaemonUnavailable, InvalidArgument
from pm_actors.log_results import LogLine, Stream, line_of_match

RESYNC_S: Final = 5.0
"""After this long without an event, read anyway: lines stored while the daemon restarted."""
PAGE: Final = 1000

LineFilter = Callable[[LogLine], bool]


def logs(arguments: argparse.Namespace, console: Console) -> int:
    stream: Stream | None = "stderr" if arguments.stderr else "stdout" if arguments.stdout else None
    name, count = arguments.name, arguments.lines
    keep = None if arguments.grep is None else _matching(arguments.grep)
    if keep is None and count != 0:
        page = console.caller.call(TailLogs(name=name, limit=count, stream=stream, since=arguments.since))
        shown, after_id = page.lines, page.next_after_id
    else:  # what is stored after the newest line now is for following
        after_id = console.caller.call(TailLogs(name=name, limit=1)).next_after_id
        shown = [] if count == 0 else _grepped(console, arguments, stream, after_id)
    for line in shown:
        print_line(console, line)
    if arguments.follow:
        try:
            console.caller.run(follow(console, name, after_id, stream, keep))
        except KeyboardInterrupt:
            return EXIT_OK
    return EXIT_OK


def _grepped(
    console: Console, arguments: argparse.Namespace, stream: Stream | None, up_to: int
) -> list[LogLine]:
    """The newest lines up to id `up_to` that `--grep` matches, oldest first: the daemon's search."""
    request = SearchLogs(
        query=arguments.grep,
        name=arguments.name,
        mode="regex",
        limit=arguments.lines,
        since=arguments.since,
        stream=stream,
    )
    found = console.caller.call(request)
    return [line_of_match(match) for match in reversed(found.matches) if match.id <= up_to]


def search(arguments: argparse.Namespace, console: Console) -> int:
    request = SearchLogs(
        query=arguments.query, name=arguments.name, mode=arguments.mode, limit=arguments.limit
    )
    result = console.caller.call(request)
    for match in result.matches:
        when = datetime.datetime.fromisoformat(match.ts).astimezone().strftime("%H:%M:%S")
        console.print(f"{console.painter.dim(when)} {match.name} {match.text}")
    if not result.matches:
        console.print("No matching lines.")
    return EXIT_OK if result.matches else EXIT_FAILURE


async def follow(
    console: Console, name: str, after_id: int, stream: Stream | None, keep: LineFilter | None = None
) -> None:
    """Print the lines of `name` after `after_id` (those `keep` keeps) as they come, until
    interrupted."""
    session = console.caller.session
    changed = asyncio.Event()
    session.subscribe(frozenset({Topic(kind="output", name=name)}), lambda topics: changed.set())
    await session.subscribed()
    while True:
        # A daemon away: the session connects (and subscribes) again on the next read.
        with contextlib.suppress(DaemonUnavailable):
            after_id = await _print_new(console, name, after_id, stream, keep)
        changed.clear()
        try:
            async with asyncio.timeout(RESYNC_S):
                await changed.wait()
        except TimeoutError:
            pass


async def _print_new(
    console: Console, name: str, after_id: int, stream: Stream | None, keep: LineFilter | None
) -> int:
    while True:
        page = await console.caller.session.call(
            GetLogs(name=name, after_id=after_id, limit=PAGE, stream=stream)
        )
        for line in page.lines:
            if keep is None or keep(line):
                print_line(console, line)
        after_id = page.next_after_id
        if not page.has_more:
            return after_id


def print_line(console: Console, line: LogLine) -> None:
    console.print(console.painter.error(line.text) if line.stream == "stderr" else line.text)


def _matching(regex: str) -> LineFilter:
    """Whether a line matches `regex`, as the daemon's regex search decides."""
    try:
        pattern = compile_client_regex(regex, "--grep")
    except InvalidArgument as error:
        raise UsageError(error.message) from None
    return lambda line: pattern.search(line.text) is not None
