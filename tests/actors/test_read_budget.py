"""Reads within a time budget enforced inside SQLite, on lanes where a slow one blocks no other."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apsw
import pykka
import pytest

from pm_actors.actors.log_queries import LogQueries
from pm_actors.actors.log_reader import LogReaderActor
from pm_actors.actors.messages import STDOUT, Flush, LogBatch, ReadLogs
from pm_actors.actors.read_budget import ReadBudget
from pm_actors.api import SearchLogs, TailLogs
from pm_actors.errors import BudgetExceeded, DaemonUnavailable, InvalidArgument
from pm_actors.log_results import LogLines, SearchResult
from pm_actors.request_base import MAX_QUERY_WORDS
from tests.log_store_support import start_writer

SLOW_LINE = ("a " * 63 + "c ") * 30
"""Runs of 63 `a`s: a phrase of 64 `a`s never matches, and FTS5 tries it at every position
(~0.4 ms a line on this machine), so a few thousand such lines make a search of seconds."""
SLOW_PHRASE = " ".join(["a"] * MAX_QUERY_WORDS)
SLOW_LINES = 3000


def slow_database(rows: int = SLOW_LINES) -> apsw.Connection:
    connection = apsw.Connection(":memory:")
    connection.execute(
        "CREATE TABLE logs(id INTEGER PRIMARY KEY, process_id, run_id, stream, ts, line);"
        "CREATE TABLE processes(id INTEGER PRIMARY KEY, name);"
        "CREATE TABLE fts_progress(indexed_up_to);"
        "CREATE VIRTUAL TABLE logs_fts USING fts5(line, content='logs', content_rowid='id');"
    )
    with connection:
        connection.executemany(
            "INSERT INTO logs VALUES(?, 1, 1, 0, 0, ?)", ((i, SLOW_LINE) for i in range(1, rows + 1))
        )
        connection.execute("INSERT INTO logs_fts(rowid, line) SELECT id, line FROM logs")
        connection.execute("INSERT INTO fts_progress VALUES(?)", (rows,))
    return connection


def search(connection: apsw.Connection, query: str, **fields: Any) -> SearchResult:
    return LogQueries(connection).search(SearchLogs(query=query, **fields), None, time.time())


def test_a_read_past_its_budget_is_stopped_inside_sqlite_and_says_so() -> None:
    connection = slow_database()
    budget = ReadBudget(0.05)
    with pytest.raises(BudgetExceeded, match=r"search_logs ran past its time budget of 0\.05 s"):  # noqa: SIM117
        with budget.limit(connection, "search_logs"):
            search(connection, SLOW_PHRASE, mode="phrase")
    assert search(connection, "c", limit=1).matches, "the connection is usable afterwards"


def test_stopping_the_budget_interrupts_a_read_under_way() -> None:
    connection = slow_database()
    budget = ReadBudget(600)
    timer = threading.Timer(0.05, budget.stop)
    timer.start()
    try:
        with pytest.raises(DaemonUnavailable, match="stopping"), budget.limit(connection, "search_logs"):
            search(connection, SLOW_PHRASE, mode="phrase")
    finally:
        timer.join()


def test_a_query_of_too_many_words_is_refused_before_it_runs() -> None:
    with pytest.raises(InvalidArgument, match=f"more than the {MAX_QUERY_WORDS}"):
        search(slow_database(1), " ".join(["a"] * (MAX_QUERY_WORDS + 1)))


WEB = 1


@pytest.fixture
def slow_lines(database: Path) -> Iterator[pykka.ActorRef[Any]]:
    """A writer that has stored SLOW_LINES slow lines and a last one for process WEB."""
    writer = start_writer(database)
    writer.tell(LogBatch(WEB, 1, [(STDOUT, 0.0, [SLOW_LINE] * SLOW_LINES + ["the last line"])]))
    writer.ask(Flush(index_budget_s=None))  # all indexed: the search must go through every line
    yield writer
    writer.stop(block=True)


def texts_of(result: LogLines | SearchResult) -> list[str]:
    items = result.lines if isinstance(result, LogLines) else result.matches
    return [item.text for item in items]


def ask_read(reader: pykka.ActorRef[Any], request: SearchLogs | TailLogs) -> concurrent.futures.Future[Any]:
    reply: concurrent.futures.Future[Any] = concurrent.futures.Future()
    reader.tell(ReadLogs(request, WEB, reply))
    return reply


@pytest.mark.timeout(30)
def test_a_slow_search_blocks_neither_a_tail_nor_another_search(
    slow_lines: pykka.ActorRef[Any], database: Path
) -> None:
    reader = LogReaderActor.start(database, slow_lines, ReadBudget(0.5))
    slow = ask_read(reader, SearchLogs(query=SLOW_PHRASE, mode="phrase"))
    tail = ask_read(reader, TailLogs(name="web", limit=1))
    quick = ask_read(reader, SearchLogs(query="last"))
    assert texts_of(tail.result(timeout=10)) == ["the last line"]
    assert texts_of(quick.result(timeout=10)) == ["the last line"]
    assert not slow.done(), "the tail and the other search were answered while the slow one ran"
    with pytest.raises(BudgetExceeded):
        slow.result(timeout=10)
