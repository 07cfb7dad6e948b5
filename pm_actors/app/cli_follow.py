"""`pm-actors logs NAME -f`: new lines as they are stored, through the daemon's push stream.

The daemon announces that a process's output changed (a topic, coalesced to at most one
event per 100 ms); we then read the new lines after the last one shown. No polling: a line is
shown within the event's delay. The client session keeps the subscription across a daemon
restart and reconnection; a read after each quiet spell of `RESYNC_S` catches what was stored
while no daemon could tell us (the read costs nothing when there is nothing new).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Final

from pm_actors.api import GetLogs, Topic
from pm_actors.app.console import Console
from pm_actors.errors import DaemonUnavailable
from pm_actors.log_results import LogLine, Stream

RESYNC_S: Final = 5.0
"""After this long without an event, read anyway: lines stored while the daemon restarted."""
PAGE: Final = 1000


async def follow(console: Console, name: str, after_id: int, stream: Stream | None) -> None:
    """Print the lines of `name` after `after_id` as they come, until interrupted."""
    session = console.caller.session
    changed = asyncio.Event()
    session.subscribe(frozenset({Topic(kind="output", name=name)}), lambda topics: changed.set())
    await session.subscribed()
    while True:
        # A daemon away: the session connects (and subscribes) again on the next read.
        with contextlib.suppress(DaemonUnavailable):
            after_id = await _print_new(console, name, after_id, stream)
        changed.clear()
        try:
            async with asyncio.timeout(RESYNC_S):
                await changed.wait()
        except TimeoutError:
            pass


async def _print_new(console: Console, name: str, after_id: int, stream: Stream | None) -> int:
    while True:
        page = await console.caller.session.call(
            GetLogs(name=name, after_id=after_id, limit=PAGE, stream=stream)
        )
        for line in page.lines:
            print_line(console, line)
        after_id = page.next_after_id
        if not page.has_more:
            return after_id


def print_line(console: Console, line: LogLine) -> None:
    console.print(console.painter.error(line.text) if line.stream == "stderr" else line.text)
