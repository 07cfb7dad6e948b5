"""Properties of stored output in a whole actor system, with real children: random sequences of
starts (each child prints its lines and exits), deletes, clears and system restarts on one
database. Every search mode, asked through the system, finds what a scan of the stored lines
finds; the index agrees with the rows; no line or run id is ever handed out again."""

from __future__ import annotations

import tempfile
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import apsw
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pm_actors.actors.store import open_read_connection
from pm_actors.api import ClearLogs, DeleteProcess, ListProcesses, SearchLogs, StartProcess
from pm_actors.errors import ProcessNotFound
from pm_actors.request_base import MAX_CHARS, MAX_LIMIT
from pm_actors.states import ProcessState
from tests.actors.system_client import SystemClient, running_system
from tests.log_store_support import PIECES, QUERIES, check_index_matches_rows, scan_matches

PRINTF = "/usr/bin/printf"
"""Prints each argument as a line (`printf '%s\\n' a b`) and exits: a real child, spawned in a
millisecond or two, so that an example can start many."""


@dataclass(frozen=True)
class Start:
    name: str
    lines: list[str]


@dataclass(frozen=True)
class Delete:
    name: str


@dataclass(frozen=True)
class Clear:
    name: str | None


@dataclass(frozen=True)
class Restart:
    pass


names = st.sampled_from(["web", "worker"])
lines = st.lists(st.sampled_from(PIECES), min_size=1, max_size=3).map(" ".join)
operations = st.lists(
    st.one_of(
        st.builds(Start, names, st.lists(lines, min_size=1, max_size=5)),
        st.builds(Start, names, st.lists(lines, min_size=1, max_size=5)),
        st.builds(Delete, names),
        st.builds(Clear, st.none() | names),
        st.just(Restart()),
    ),
    min_size=1,
    max_size=8,
)


@dataclass
class Ids:
    """Every line and run id ever seen, with what it meant: an id must never mean another one."""

    lines: dict[int, tuple[int, str]] = field(default_factory=dict)
    runs: dict[int, int] = field(default_factory=dict)
    gone_lines: set[int] = field(default_factory=set)

    def check(self, reader: apsw.Connection) -> list[tuple[int, str]]:
        stored = [
            (int(i), int(p), str(t)) for i, p, t in reader.execute("SELECT id, process_id, line FROM logs")
        ]
        for line_id, process_id, text in stored:
            assert line_id not in self.gone_lines, f"line id {line_id} came back"
            assert self.lines.setdefault(line_id, (process_id, text)) == (process_id, text)
        for run_id, process_id in reader.execute("SELECT id, process_id FROM runs"):
            assert self.runs.setdefault(int(run_id), int(process_id)) == process_id
        self.gone_lines |= set(self.lines) - {line_id for line_id, _, _ in stored}
        return sorted(((line_id, text) for line_id, _, text in stored), reverse=True)


def apply(client: SystemClient, operation: Start | Delete | Clear) -> None:
    if isinstance(operation, Start):
        active = {
            record.name
            for record in client.call(ListProcesses()).processes
            if record.state.value == "running"
        }
        if operation.name not in active:
            client.call(
                StartProcess(name=operation.name, command=PRINTF, args=["%s\\n", *operation.lines], cwd="/")
            )
            client.wait_for_state(operation.name, ProcessState.EXITED)
    elif isinstance(operation, Delete):
        with suppress(ProcessNotFound):  # deleted already, or never started
            client.call(DeleteProcess(name=operation.name))
    else:
        with suppress(ProcessNotFound):
            client.call(ClearLogs(name=operation.name))


def check(client: SystemClient, database: Path, ids: Ids) -> None:
    reader = open_read_connection(database)
    try:
        for query, mode in QUERIES:  # each search first lets the writer index what it holds
            request = SearchLogs(
                query=query, mode=mode, limit=MAX_LIMIT, max_chars=MAX_CHARS, max_line_chars=MAX_CHARS
            )
            result: Any = client.call(request)
            with reader:
                stored = ids.check(reader)
            expected = [line_id for line_id, text in stored if scan_matches(text, query, mode)]
            assert [match.id for match in result.matches] == expected, (query, mode)
            assert result.unindexed == 0
    finally:
        reader.close()
    check_index_matches_rows(database)


@pytest.mark.timeout(300)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=operations)
def test_searches_agree_with_a_scan_across_starts_deletes_clears_and_restarts(
    short_tmp: Path, pm_environment: dict[str, str], steps: list[Start | Delete | Clear | Restart]
) -> None:
    database = Path(tempfile.mkdtemp(dir=short_tmp)) / "pm.db"
    environment = pm_environment | {"PM_DATABASE_PATH": str(database)}
    ids = Ids()
    remaining = list(steps)
    while remaining:
        with running_system(environment) as client:
            while remaining and not isinstance(operation := remaining.pop(0), Restart):
                apply(client, operation)
            check(client, database, ids)
