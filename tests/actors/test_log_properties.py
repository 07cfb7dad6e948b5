"""Properties of the log store under random sequences of prints, deletes, clears, size trims and
writer restarts, on a real writer and SQLite file: every search mode finds exactly what a plain
scan of the stored lines finds, the index agrees with the rows, and no id is ever reused."""

from __future__ import annotations

import concurrent.futures
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import apsw
import pykka
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pm_actors.actors.log_queries import LogQueries
from pm_actors.actors.messages import STDOUT, DeleteLines, DeleteProcessData, Flush, LogBatch
from pm_actors.actors.retention import RetentionPolicy
from pm_actors.actors.store import open_read_connection, open_write_connection
from pm_actors.api import SearchLogs
from pm_actors.request_base import MAX_CHARS, MAX_LIMIT
from tests.helpers import wait_until
from tests.log_store_support import (
    KEEP_EVERYTHING,
    PIECES,
    QUERIES,
    check_index_matches_rows,
    scan_matches,
    start_writer,
)

TS = 1_000_000.0
WAIT_S = 20.0


@dataclass(frozen=True)
class Print:
    process_id: int
    texts: list[str]


@dataclass(frozen=True)
class Delete:
    process_id: int


@dataclass(frozen=True)
class Clear:
    process_id: int | None
    before_step: int | None
    """Lines printed before this step go (each print is stamped with its step number)."""


@dataclass(frozen=True)
class Restart:
    limit_chars: int | None
    """The size limit of the new writer (None: none that matters)."""


processes = st.sampled_from([1, 2, 3])
lines = st.lists(st.sampled_from(PIECES), min_size=1, max_size=4).map(" ".join)
operations = st.lists(
    st.one_of(
        st.builds(Print, processes, st.lists(lines, min_size=1, max_size=8)),
        st.builds(Print, processes, st.lists(lines, min_size=1, max_size=8)),
        st.builds(Delete, processes),
        st.builds(Clear, st.none() | processes, st.none() | st.integers(0, 12)),
        st.builds(Restart, st.none() | st.sampled_from([120, 300])),
    ),
    min_size=1,
    max_size=12,
)


@dataclass
class Store:
    """A writer on its own file, and what the test knows of what was written."""

    database: Path
    writer: pykka.ActorRef[Any]
    policy: RetentionPolicy = KEEP_EVERYTHING
    seen: dict[int, tuple[int, str]] = field(default_factory=dict)
    """Every line id ever stored, with its process and text: an id must never mean another line."""
    gone: set[int] = field(default_factory=set)

    def apply(self, step: int, operation: Print | Delete | Clear | Restart) -> None:
        if isinstance(operation, Print):
            self.writer.tell(
                LogBatch(operation.process_id, step, [(STDOUT, TS + step, list(operation.texts))])
            )
        elif isinstance(operation, Delete):
            self._answered(lambda done: DeleteProcessData(operation.process_id, done))
        elif isinstance(operation, Clear):
            before = None if operation.before_step is None else TS + operation.before_step
            self._answered(lambda done: DeleteLines(operation.process_id, before, done))
        else:
            self.writer.stop(block=True)
            limit = operation.limit_chars
            self.policy = (
                KEEP_EVERYTHING
                if limit is None
                else RetentionPolicy(max_age_s=1e9, max_chars_per_process=limit)
            )
            self.writer = start_writer(self.database, self.policy)
        self.writer.ask(Flush(index_budget_s=None))

    def _answered(self, message: Any) -> None:
        done: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self.writer.tell(message(done))
        assert isinstance(done.result(timeout=WAIT_S), int)


def rows(reader: apsw.Connection) -> list[tuple[int, int, str]]:
    return [
        (int(i), int(p), str(t))
        for i, p, t in reader.execute("SELECT id, process_id, line FROM logs ORDER BY id")
    ]


def check_store(store: Store, reader: apsw.Connection) -> None:
    check_index_matches_rows(store.database)
    queries = LogQueries(reader)
    with reader:  # one snapshot for the scan and the searches
        stored = rows(reader)
        for line_id, process_id, text in stored:
            assert store.seen.setdefault(line_id, (process_id, text)) == (process_id, text)
            assert line_id not in store.gone, f"line id {line_id} came back"
        for query, mode in QUERIES:
            request = SearchLogs(
                query=query, mode=mode, limit=MAX_LIMIT, max_chars=MAX_CHARS, max_line_chars=MAX_CHARS
            )
            result = queries.search(request, None, time.time())
            expected = [line_id for line_id, _, text in reversed(stored) if scan_matches(text, query, mode)]
            assert [match.id for match in result.matches] == expected, (query, mode)
            assert (result.unindexed, result.has_more) == (0, False)
    store.gone |= set(store.seen) - {line_id for line_id, _, _ in stored}


def within_limits(store: Store, reader: apsw.Connection) -> bool:
    limit = store.policy.max_chars_per_process
    sizes = reader.execute(
        "SELECT coalesce(max(chars), 0) FROM"
        " (SELECT sum(length(line)) AS chars FROM logs GROUP BY process_id)"
    )
    return int(str(sizes.get)) <= limit


@pytest.mark.timeout(240)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=operations)
def test_every_search_mode_agrees_with_a_scan_whatever_was_printed_deleted_cleared_trimmed(
    short_tmp: Path, steps: list[Print | Delete | Clear | Restart]
) -> None:
    database = Path(tempfile.mkdtemp(dir=short_tmp)) / "pm.db"
    open_write_connection(database).close()
    store = Store(database, start_writer(database))
    reader = open_read_connection(database)
    try:
        for step, operation in enumerate(steps):
            store.apply(step, operation)
            wait_until(lambda: within_limits(store, reader), timeout=WAIT_S, message="the size trim")
            check_store(store, reader)
    finally:
        reader.close()
        store.writer.stop(block=True)
