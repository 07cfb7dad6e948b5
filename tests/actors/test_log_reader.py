from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apsw
import pykka
import pytest

from pm_actors.actors.log_reader import MAX_RESULT_TEXT_BYTES, LogQueries, LogReaderActor
from pm_actors.actors.log_writer import LogWriterActor
from pm_actors.actors.messages import (
    STDERR,
    STDOUT,
    Flush,
    LogBatch,
    ReadLogs,
    SaveDefinition,
)
from pm_actors.actors.read_budget import ReadBudget
from pm_actors.actors.store import load_stored_state, open_read_connection, open_write_connection
from pm_actors.api import GetLogs, SearchLogs, TailLogs
from pm_actors.definition import ProcessDefinition
from pm_actors.errors import InternalError, InvalidArgument
from pm_actors.results import SearchResult

WEB, WORKER = 1, 2
TS = 1_700_000_000.25

READ_BUDGET_S = 5.0
"""The daemon's default time budget of one read (PM_QUERY_TIMEOUT_MS)."""


@pytest.fixture
def writer(database: Path) -> pykka.ActorRef[LogWriterActor]:
    connection = open_write_connection(database)
    try:
        next_log_id = load_stored_state(connection).next_log_id
    finally:
        connection.close()
    writer = LogWriterActor.start(database, next_log_id)
    for process_id, name in ((WEB, "web"), (WORKER, "worker")):
        definition = ProcessDefinition(
            name=name, command=name, executable=f"/usr/bin/{name}", args=[], cwd="/"
        )
        writer.tell(SaveDefinition(process_id, definition, TS))
    return writer


@pytest.fixture
def queries(database: Path) -> Iterator[LogQueries]:
    connection = open_read_connection(database)
    yield LogQueries(connection)
    connection.close()


def write(
    writer: pykka.ActorRef[LogWriterActor], process_id: int, texts: list[str], stream: int = STDOUT
) -> None:
    writer.tell(LogBatch(process_id, 1, [(stream, TS, text) for text in texts]))
    writer.ask(Flush())


def texts_of(result: Any) -> list[str]:
    items = result.lines if hasattr(result, "lines") else result.matches
    return [item.text for item in items]


# get_logs and tail_logs ---------------------------------------------------------------------


def test_paging_with_after_id_returns_every_line_exactly_once_in_order(
    writer: Any, queries: LogQueries
) -> None:
    sent = [f"line {number}" for number in range(250)]
    write(writer, WEB, sent)
    write(writer, WORKER, ["not mine"])

    received, pages, after_id, has_more = [], [], 0, True
    while has_more:
        page = queries.get_logs(WEB, after_id=after_id, limit=100)
        received += texts_of(page)
        pages.append((len(page.lines), page.has_more))
        after_id, has_more = page.next_after_id, page.has_more

    assert received == sent
    assert pages == [(100, True), (100, True), (50, False)]


def test_get_logs_past_the_last_line_is_empty_and_keeps_the_position(
    writer: Any, queries: LogQueries
) -> None:
    write(writer, WEB, ["only"])
    last_id = queries.get_logs(WEB).next_after_id

    page = queries.get_logs(WEB, after_id=last_id)

    assert (page.lines, page.next_after_id, page.has_more) == ([], last_id, False)


def test_a_line_carries_its_id_stream_name_and_utc_time(writer: Any, queries: LogQueries) -> None:
    write(writer, WEB, ["oops"], stream=STDERR)

    [line] = queries.get_logs(WEB).lines

    assert (line.stream, line.ts, line.text) == ("stderr", "2023-11-14T22:13:20.250Z", "oops")
    assert line.id >= 1


def test_tail_returns_the_newest_lines_oldest_first(writer: Any, queries: LogQueries) -> None:
    write(writer, WEB, [f"line {number}" for number in range(10)])

    tail = queries.tail_logs(WEB, limit=3)

    assert texts_of(tail) == ["line 7", "line 8", "line 9"]
    assert tail.has_more  # older lines exist
    assert tail.next_after_id == tail.lines[-1].id
    assert queries.get_logs(WEB, after_id=tail.next_after_id).lines == []


def test_tail_of_every_line_says_nothing_older_exists(writer: Any, queries: LogQueries) -> None:
    write(writer, WEB, ["a", "b"])

    tail = queries.tail_logs(WEB, limit=2)

    assert (texts_of(tail), tail.has_more) == (["a", "b"], False)


def test_tail_of_a_process_without_output_lets_a_client_follow_from_the_start(queries: LogQueries) -> None:
    tail = queries.tail_logs(WEB)

    assert (tail.lines, tail.next_after_id, tail.has_more) == ([], 0, False)


def test_the_stream_filter_keeps_only_that_stream(writer: Any, queries: LogQueries) -> None:
    write(writer, WEB, ["out 1"])
    write(writer, WEB, ["err 1"], stream=STDERR)
    write(writer, WEB, ["out 2"])
    write(writer, WEB, ["err 2"], stream=STDERR)

    assert texts_of(queries.get_logs(WEB, stream="stderr")) == ["err 1", "err 2"]
    assert texts_of(queries.tail_logs(WEB, limit=1, stream="stdout")) == ["out 2"]


def test_a_page_stops_at_the_byte_cap_and_says_so(writer: Any, queries: LogQueries) -> None:
    line_size = MAX_RESULT_TEXT_BYTES // 3 - 1  # three fit, the fourth does not
    write(writer, WEB, [str(number) * line_size for number in range(5)])

    page = queries.get_logs(WEB, limit=10)
    rest = queries.get_logs(WEB, after_id=page.next_after_id, limit=10)

    assert (len(page.lines), page.byte_cap_reached, page.has_more) == (3, True, True)
    assert (len(rest.lines), rest.byte_cap_reached, rest.has_more) == (2, False, False)


def test_a_line_larger_than_the_byte_cap_is_still_returned_alone(writer: Any, queries: LogQueries) -> None:
    write(writer, WEB, ["x" * (MAX_RESULT_TEXT_BYTES + 1), "small"])

    page = queries.tail_logs(WEB, limit=2)

    assert (texts_of(page), page.byte_cap_reached, page.has_more) == (["small"], True, True)
    assert len(queries.get_logs(WEB, limit=2).lines) == 1


def test_a_limit_outside_the_allowed_range_is_refused(queries: LogQueries) -> None:
    with pytest.raises(InvalidArgument, match="limit"):
        queries.get_logs(WEB, limit=0)
    with pytest.raises(InvalidArgument, match="limit"):
        queries.search("word", limit=10_001)


# search -------------------------------------------------------------------------------------


@pytest.fixture
def searchable(writer: Any) -> None:
    write(writer, WEB, ["GET /health 200", "connection refused by db", "value a.b[0] = 3", "Refused: quota"])
    write(writer, WORKER, ["job 17 done", "db connection refused again", "unique-zebra-42 seen"])


def test_words_mode_finds_a_unique_word_and_names_its_process(searchable: None, queries: LogQueries) -> None:
    result = queries.search("zebra")

    assert [(match.name, match.text) for match in result.matches] == [("worker", "unique-zebra-42 seen")]
    assert (result.has_more, result.unindexed) == (False, 0)


def test_words_mode_needs_every_word_in_any_order_newest_first(searchable: None, queries: LogQueries) -> None:
    result = queries.search("refused connection")

    assert texts_of(result) == ["db connection refused again", "connection refused by db"]


def test_words_mode_ignores_punctuation_that_fts5_would_reject(searchable: None, queries: LogQueries) -> None:
    assert texts_of(queries.search('a.b[0] "AND" (')) == []
    assert texts_of(queries.search("a.b[0]")) == ["value a.b[0] = 3"]


def test_words_mode_finds_an_identifier_with_underscores(writer: Any, queries: LogQueries) -> None:
    write(writer, WEB, ["user_id=5 missing", "user 5 id"])

    assert texts_of(queries.search("user_id")) == ["user_id=5 missing"]


def test_a_query_without_any_word_is_refused_with_what_to_do(queries: LogQueries) -> None:
    with pytest.raises(InvalidArgument, match="substring"):
        queries.search("[]*.", mode="words")
    with pytest.raises(InvalidArgument, match="substring"):
        queries.search('"..."', mode="phrase")


def test_an_unknown_search_mode_is_refused_naming_the_modes(queries: LogQueries) -> None:
    with pytest.raises(InvalidArgument, match="words, phrase, fts5, substring"):
        queries.search("word", mode="regex")  # type: ignore[arg-type]


def test_phrase_mode_needs_the_words_in_that_order(searchable: None, queries: LogQueries) -> None:
    assert texts_of(queries.search("connection refused", mode="phrase")) == [
        "db connection refused again",
        "connection refused by db",
    ]
    assert texts_of(queries.search("refused connection", mode="phrase")) == []
    assert texts_of(queries.search('refused "by', mode="phrase")) == ["connection refused by db"]


def test_fts5_mode_accepts_the_query_syntax(searchable: None, queries: LogQueries) -> None:
    assert texts_of(queries.search("zebra OR quota", mode="fts5")) == [
        "unique-zebra-42 seen",
        "Refused: quota",
    ]
    assert texts_of(queries.search("refus*", mode="fts5", process_id=WEB)) == [
        "Refused: quota",
        "connection refused by db",
    ]


def test_fts5_mode_explains_a_syntax_error(queries: LogQueries) -> None:
    with pytest.raises(InvalidArgument, match="syntax error") as caught:
        queries.search("a.b AND", mode="fts5")

    assert 'mode "words"' in caught.value.message


def test_substring_mode_finds_exact_text_with_punctuation_case_sensitively(
    searchable: None, queries: LogQueries
) -> None:
    assert texts_of(queries.search("a.b[0]", mode="substring")) == ["value a.b[0] = 3"]
    assert texts_of(queries.search("Refused", mode="substring")) == ["Refused: quota"]
    assert texts_of(queries.search("A.B[0]", mode="substring")) == []


@pytest.mark.parametrize("mode", ["words", "phrase", "fts5", "substring"])
def test_the_process_filter_keeps_only_its_lines(searchable: None, queries: LogQueries, mode: Any) -> None:
    result = queries.search("refused", process_id=WORKER, mode=mode)

    assert [(match.name, match.text) for match in result.matches] == [
        ("worker", "db connection refused again")
    ]


@pytest.mark.parametrize("mode", ["words", "substring"])
def test_has_more_says_matches_were_left_out_by_the_limit(
    writer: Any, queries: LogQueries, mode: Any
) -> None:
    write(writer, WEB, [f"tick {number}" for number in range(5)])

    result = queries.search("tick", mode=mode, limit=2)

    assert (texts_of(result), result.has_more) == (["tick 4", "tick 3"], True)
    assert not queries.search("tick", mode=mode, limit=5).has_more


# LogReaderActor -----------------------------------------------------------------------------


def read(reader: pykka.ActorRef[LogReaderActor], request: Any, process_id: int | None) -> Any:
    reply: concurrent.futures.Future[Any] = concurrent.futures.Future()
    reader.tell(ReadLogs(request, process_id, reply))
    return reply.result(timeout=10)


def test_the_reader_sees_lines_the_writer_was_still_holding(writer: Any, database: Path) -> None:
    reader = LogReaderActor.start(database, writer, ReadBudget(READ_BUDGET_S))
    holding, release = threading.Event(), threading.Event()

    def hold_the_writer() -> None:  # runs in the writer's thread, which waits here
        holding.set()
        release.wait(10)

    writer.tell(LogBatch(WEB, 1, [], on_committed=hold_the_writer))
    assert holding.wait(10)
    writer.tell(LogBatch(WEB, 1, [(STDOUT, TS, "fresh")]))
    reply: concurrent.futures.Future[Any] = concurrent.futures.Future()
    reader.tell(ReadLogs(GetLogs(name="web"), WEB, reply))
    release.set()

    assert texts_of(reply.result(timeout=10)) == ["fresh"]


def test_the_reader_answers_each_kind_of_log_request(writer: Any, database: Path) -> None:
    reader = LogReaderActor.start(database, writer, ReadBudget(READ_BUDGET_S))
    write(writer, WEB, ["alpha", "beta"])

    assert texts_of(read(reader, GetLogs(name="web", limit=1), WEB)) == ["alpha"]
    assert texts_of(read(reader, TailLogs(name="web", limit=1), WEB)) == ["beta"]
    result = read(reader, SearchLogs(query="beta"), None)
    assert isinstance(result, SearchResult) and texts_of(result) == ["beta"]


def test_a_bad_query_fails_the_reply_with_invalid_argument(writer: Any, database: Path) -> None:
    reader = LogReaderActor.start(database, writer, ReadBudget(READ_BUDGET_S))

    with pytest.raises(InvalidArgument, match="unterminated string"):
        read(reader, SearchLogs(query='"open', mode="fts5"), None)


def test_a_reader_whose_writer_is_gone_answers_with_an_internal_error(writer: Any, database: Path) -> None:
    reader = LogReaderActor.start(database, writer, ReadBudget(READ_BUDGET_S))
    writer.stop(block=True)

    with pytest.raises(InternalError, match="LogWriterActor has stopped before answering Flush"):
        read(reader, TailLogs(name="web"), WEB)
    assert reader.is_alive()


def test_a_caller_that_stopped_waiting_does_not_break_the_reader(writer: Any, database: Path) -> None:
    reader = LogReaderActor.start(database, writer, ReadBudget(READ_BUDGET_S))
    abandoned: concurrent.futures.Future[Any] = concurrent.futures.Future()
    abandoned.cancel()
    reader.tell(ReadLogs(TailLogs(name="web"), WEB, abandoned))

    assert read(reader, TailLogs(name="web"), WEB).lines == []


def test_search_reports_no_unindexed_lines_after_a_full_flush(writer: Any, database: Path) -> None:
    write(writer, WEB, ["indexed right away"])
    connection = open_read_connection(database)
    try:
        result = LogQueries(connection).search("indexed")
        unindexed_rows = connection.execute(
            "SELECT count(*) FROM logs WHERE id > (SELECT indexed_up_to FROM fts_progress)"
        ).get
    finally:
        connection.close()

    assert (len(result.matches), result.unindexed, unindexed_rows) == (1, 0, 0)


def test_unindexed_counts_stored_lines_above_the_index_high_water_mark(database: Path) -> None:
    connection: apsw.Connection = open_write_connection(database)
    try:
        connection.execute(
            "INSERT INTO logs(id, process_id, run_id, stream, ts, line) VALUES(1, 1, 1, 0, 0, 'late')"
        )
        result = LogQueries(connection).search("late")
    finally:
        connection.close()

    assert (result.matches, result.unindexed) == ([], 1)
