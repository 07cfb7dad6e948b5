"""Retention in a running system: a real child floods far past PM_MAX_LOG_SIZE_MB."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import apsw
import pytest

from pm_actors.actors.log_writer import MAX_PENDING_LINES
from pm_actors.actors.retention import CHARS_PER_MB
from pm_actors.actors.store import open_read_connection
from pm_actors.api import SearchLogs
from pm_actors.states import ProcessState
from tests.actors.system_client import SystemClient, running_system
from tests.helpers import wait_until

LINE = "{:07d} flood line, padded to be eighty characters long with words: alpha beta ok"
FLOOD_LINES = 125_000
"""About ten times the 1 MB limit."""
FLOOD = (
    "import sys\n"
    f"for start in range(0, {FLOOD_LINES}, 1000):\n"
    f"    sys.stdout.write(''.join({LINE!r}.format(i) + '\\n' for i in range(start, start + 1000)))"
)
LIMIT_CHARS = CHARS_PER_MB


@pytest.fixture
def capped(pm_environment: dict[str, str]) -> Iterator[SystemClient]:
    with running_system(pm_environment, PM_MAX_LOG_SIZE_MB="1") as client:
        yield client


def stored_chars(reader: apsw.Connection) -> int:
    return int(str(reader.execute("SELECT coalesce(sum(length(line)), 0) FROM logs").get))


@pytest.mark.timeout(60)
def test_a_flood_ten_times_the_size_limit_stays_near_it_and_ends_within_it(
    capped: SystemClient, pm_environment: dict[str, str]
) -> None:
    capped.start("flood", FLOOD)
    reader = open_read_connection(Path(pm_environment["PM_DATABASE_PATH"]))
    peak = 0

    def exited_watching_the_peak() -> bool:
        nonlocal peak
        peak = max(peak, stored_chars(reader))
        return capped.record("flood").state is ProcessState.EXITED

    try:
        wait_until(exited_watching_the_peak, timeout=40, message="the flood to end")
        wait_until(lambda: stored_chars(reader) <= LIMIT_CHARS, message="the trim to reach the limit")
    finally:
        reader.close()

    line_chars = len(LINE.format(0))
    # Trimmed after every flush: never more than two flushes' worth past the limit.
    assert peak <= LIMIT_CHARS + 2 * MAX_PENDING_LINES * line_chars
    newest = capped.all_lines("flood")
    assert newest[-1] == LINE.format(FLOOD_LINES - 1)
    assert len(newest) >= 0.85 * LIMIT_CHARS / line_chars  # trimmed to 90% of the limit, no further
    found = capped.call(SearchLogs(query=f"{FLOOD_LINES - 1:07d}", name="flood"))
    assert [match.text for match in found.matches] == [newest[-1]]
