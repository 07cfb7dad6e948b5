from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apsw
import pykka
import pytest

from pm_actors.actors import log_queries
from pm_actors.actors.log_queries import LogQueries
from pm_actors.actors.log_reader import LogReaderActor
from pm_actors.actors.log_writer import LogWriterActor
from pm_actors.actors.messages import (
    STDERR,
    STDOUT,
    Flush,
    LogBatch,
    ReadLogs,
    RecordRunStart,
    SaveDefinition,
)
from pm_actors.actors.read_budget import ReadBudget
from pm_actors.actors.store import open_read_connection, open_write_connection
from pm_actors.api import GetLogs, SearchLogs, TailLogs
from pm_actors.definition import ProcessDefinition
from pm_actors.errors import BudgetExceeded, InternalError, InvalidArgument
from pm_actors.log_results import LogLines, LogTail, SearchResult
from tests.log_store_support import start_writer

WEB, WORKER = 1, 2
TS = 1_700_000_000.25

READ_BUDGET_S = 5.0
"""The daemon's default time budget of one read (PM_QUERY_TIMEOUT_MS)."""


@pytest.fixture
def writer(database: Path) -> pykka.ActorRef[LogWriterActor]:
    writer = start_writer(database)
    for process_id, name in ((WEB, "web"), (WORKER, "worker")):
        definition = ProcessDefinition(
            name=name, command=name, executable=f"/usr/bin/{name}", args=[], cwd="/"
        )
        writer.tell(SaveDefinition(process_id, definition, TS))
    return writer


@pytest.fixture
def connection(database: Path) -> Iterator[apsw.Connection]:
    connection = open_read_connection(database)
    yield connection
    connection.close()


@pytest.fixture
def queries(connection: apsw.Connection) -> LogQueries:
    return LogQueries(connection)


def write(
    writer: pykka.ActorRef[LogWriterActor],
    process_id: int,
    texts: list[str],
    stream: int = STDOUT,
    run_id: int = 1,
    ts: float = TS,
) -> None:
    writer.tell(LogBatch(process_id, run_id, [(stream, ts, texts)]))
    writer.ask(Flush(index_budget_s=None))


def texts_of(result: Any) -> list[str]:
    items = result.lines if hasattr(result, "lines") else result.matches
    return [item.text for item in items]


def get(queries: LogQueries, process_id: int = WEB, **fields: Any) -> LogLines:
    return queries.get_logs(GetLogs(name="web", **fields), process_id)


def tail(queries: LogQueries, process_id: int = WEB, **fields: Any) -> LogTail:
    return queries.tail_logs(TailLogs(name="web", **fields), process_id, TS + 60)


def search(queries: LogQueries, query: str, process_id: int | None = None, **fields: Any) -> SearchResult:
    return queries.search(SearchLogs(query=query, **fields), process_id, TS + 60)


# get_logs and tail_logs ---------------------------------------------------------------------


def test_paging_with_after_id_returns_every_line_exactly_once_in_order(
    writer: Any, queries: LogQueries
) -> None:
    sent = [f"line {number}" for number in range(250)]
    write(writer, WEB, sent)
    write(writer, WORKER, ["not mine"])

    received, pages, after_id, has_more = [], [], 0, True
    while has_more:
        page = get(queries, after_id=after_id, limit=100)
        received += texts_of(page)
        pages.append((len(page.lines), page.has_more))
        after_id, has_more = page.next_after_id, page.has_more

    assert received == sent
    assert pages == [(100, True), (100, True), (50, False)]


def test_get_logs_past_the_last_line_is_empty_and_keeps_the_position(
    writer: Any, queries: LogQueries
) -> None:
    write(writer, WEB, ["only"])
    last_id = get(queries).next_after_id

    page = get(queries, after_id=last_id)

    assert (page.lines, page.next_after_id, page.has_more) == ([], last_id, False)


def test_a_line_carries_its_id_stream_name_and_utc_time(writer: Any, queries: LogQueries) -> None:
    write(writer, WEB, ["oops"], stream=STDERR)

    [line] = get(queries).lines

    assert (line.stream, line.ts, line.text, line.run_id) == ("stderr", "2023-11-14T22:13:20.250Z", "oops", 1)
    assert line.id >= 1


def test_tail_returns_the_newest_lines_oldest_first(writer: Any, queries: LogQueries) -> None:
    write(writer, WEB, [f"line {number}" for number in range(10)])

    tail_page = tail(queries, limit=3)

    assert texts_of(tail_page) == ["line 7", "line 8", "line 9"]
    assert tail_page.has_more and tail_page.next_before_id == tail_page.lines[0].id  # older lines exist
    assert tail_page.next_after_id == tail_page.lines[-1].id
    assert get(queries, after_id=tail_page.next_after_id).lines == []


def test_tail_pages_back_to_older_lines_with_before_id(writer: Any, queries: LogQueries) -> None:
    write(writer, WEB, [f"line {number}" for number in range(10)])

    pages, before_id = [], None
    while True:
        page = tail(queries, limit=4, before_id=before_id)
        pages.append(texts_of(page))
        before_id = page.next_before_id
        if before_id is None:
            break

    assert pages == [
        [f"line {n}" for n in range(6, 10)],
        [f"line {n}" for n in range(2, 6)],
        ["line 0", "line 1"],
    ]
    assert "tail_logs before_id=" in tail(queries, limit=4).summary()


def test_tail_of_every_line_says_nothing_older_exists(writer: Any, queries: LogQueries) -> None:
    write(writer, WEB, ["a", "b"])

    tail_page = tail(queries, limit=2)

    assert (texts_of(tail_page), tail_page.has_more, tail_page.next_before_id) == (["a", "b"], False, None)


def test_tail_since_a_time_keeps_only_the_lines_stamped_from_then(writer: Any, queries: LogQueries) -> None:
    write(writer, WEB, ["an hour ago", "still an hour ago"], ts=TS - 3600)
    write(writer, WEB, ["a minute ago", "just now"], ts=TS - 60)

    recent = tail(queries, since="2023-11-14T22:03:20Z")  # TS - 600

    assert (texts_of(recent), recent.has_more, recent.next_before_id) == (
        ["a minute ago", "just now"],
        False,
        None,
    )
    assert texts_of(tail(queries, limit=1, since="2023-11-14T22:03:20Z")) == ["just now"]
    assert tail(queries, since="2023-11-14T22:13:21Z").lines == []
    assert texts_of(tail(queries, since="2m")) == ["a minute ago", "just now"]  # now is TS + 60


def test_tail_of_a_process_without_output_lets_a_client_follow_from_the_start(queries: LogQueries) -> None:
    tail_page = tail(queries)

    assert (tail_page.lines, tail_page.next_after_id, tail_page.has_more) == ([], 0, False)


def test_the_stream_filter_keeps_only_that_stream(writer: Any, queries: LogQueries) -> None:
    write(writer, WEB, ["out 1"])
    write(writer, WEB, ["err 1"], stream=STDERR)
    write(writer, WEB, ["out 2"])
    write(writer, WEB, ["err 2"], stream=STDERR)

    assert texts_of(get(queries, stream="stderr")) == ["err 1", "err 2"]
    assert texts_of(tail(queries, limit=1, stream="stdout")) == ["out 2"]


def test_a_page_stops_at_its_character_budget_and_says_where_to_continue(
    writer: Any, queries: LogQueries
) -> None:
    write(writer, WEB, [str(number) * 5_000 for number in range(5)])

    page = get(queries, limit=10, max_chars=12_000, max_line_chars=5_000)
    rest = get(queries, after_id=page.next_after_id, limit=10, max_chars=12_000, max_line_chars=5_000)

    assert (len(page.lines), page.budget_reached, page.has_more) == (2, True, True)
    assert (len(rest.lines), rest.budget_reached, rest.has_more) == (2, True, True)
    assert f"after_id={page.next_after_id}" in page.summary()


def test_a_long_line_is_cut_with_a_marker_saying_how_much_and_how_to_read_it_whole(
    writer: Any, queries: LogQueries
) -> None:
    write(writer, WEB, ["x" * 60_000, "small"])

    page = get(queries)
    [long, small] = page.lines

    assert (long.cut, small.cut, small.text) == (58_000, 0, "small")
    assert long.text.startswith("x" * 2_000)
    assert (
        f"58,000 of 60,000 chars cut; whole line: get_logs name=web after_id={long.id - 1} limit=1"
        in long.text
    )
    whole = get(queries, after_id=long.id - 1, limit=1, max_line_chars=60_000, max_chars=60_000).lines[0]
    assert (whole.text, whole.cut) == ("x" * 60_000, 0)


def test_a_line_larger_than_the_budget_is_still_returned_alone_cut_to_it(
    writer: Any, queries: LogQueries
) -> None:
    write(writer, WEB, ["y" * 50_000, "z" * 1_000])

    page = get(queries, limit=2, max_chars=20_000, max_line_chars=100_000)

    assert len(page.lines) == 1 and page.budget_reached and page.has_more
    assert 19_000 < len(page.lines[0].text) <= 20_000 and page.lines[0].cut > 30_000


def test_a_limit_outside_the_allowed_range_is_refused(queries: LogQueries) -> None:
    with pytest.raises(InvalidArgument, match="limit"):
        get(queries, limit=0)
    with pytest.raises(InvalidArgument, match="limit"):
        search(queries, "word", limit=10_001)


# search -------------------------------------------------------------------------------------


@pytest.fixture
def searchable(writer: Any) -> None:
    write(writer, WEB, ["GET /health 200", "connection refused by db", "value a.b[0] = 3", "Refused: quota"])
    write(writer, WORKER, ["job 17 done", "db connection refused again", "unique-zebra-42 seen"])


def test_words_mode_finds_a_unique_word_and_names_its_process(searchable: None, queries: LogQueries) -> None:
    result = search(queries, "zebra")

    assert [(match.name, match.text) for match in result.matches] == [("worker", "unique-zebra-42 seen")]
    assert (result.has_more, result.unindexed) == (False, 0)


def test_words_mode_needs_every_word_in_any_order_newest_first(searchable: None, queries: LogQueries) -> None:
    result = search(queries, "refused connection")

    assert texts_of(result) == ["db connection refused again", "connection refused by db"]


def test_words_mode_ignores_punctuation_that_fts5_would_reject(searchable: None, queries: LogQueries) -> None:
    assert texts_of(search(queries, 'a.b[0] "AND" (')) == []
    assert texts_of(search(queries, "a.b[0]")) == ["value a.b[0] = 3"]


def test_words_mode_finds_an_identifier_with_underscores(writer: Any, queries: LogQueries) -> None:
    write(writer, WEB, ["user_id=5 missing", "user 5 id"])

    assert texts_of(search(queries, "user_id")) == ["user_id=5 missing"]


def test_a_query_without_any_word_is_refused_with_what_to_do(queries: LogQueries) -> None:
    with pytest.raises(InvalidArgument, match="substring"):
        search(queries, "[]*.", mode="words")
    with pytest.raises(InvalidArgument, match="substring"):
        search(queries, '"..."', mode="phrase")


def test_an_unknown_search_mode_is_refused_naming_the_modes(queries: LogQueries) -> None:
    with pytest.raises(InvalidArgument, match="words, phrase, fts5, substring, regex"):
        search(queries, "word", mode="grep")


def test_phrase_mode_needs_the_words_in_that_order(searchable: None, queries: LogQueries) -> None:
    assert texts_of(search(queries, "connection refused", mode="phrase")) == [
        "db connection refused again",
        "connection refused by db",
    ]
    assert texts_of(search(queries, "refused connection", mode="phrase")) == []
    assert texts_of(search(queries, 'refused "by', mode="phrase")) == ["connection refused by db"]


def test_fts5_mode_accepts_the_query_syntax(searchable: None, queries: LogQueries) -> None:
    assert texts_of(search(queries, "zebra OR quota", mode="fts5")) == [
        "unique-zebra-42 seen",
        "Refused: quota",
    ]
    assert texts_of(search(queries, "refus*", mode="fts5", process_id=WEB)) == [
        "Refused: quota",
        "connection refused by db",
    ]


def test_fts5_mode_explains_a_syntax_error(queries: LogQueries) -> None:
    with pytest.raises(InvalidArgument, match="syntax error") as caught:
        search(queries, "a.b AND", mode="fts5")

    assert 'mode "words"' in caught.value.message


def test_substring_mode_finds_exact_text_with_punctuation_case_sensitively(
    searchable: None, queries: LogQueries
) -> None:
    assert texts_of(search(queries, "a.b[0]", mode="substring")) == ["value a.b[0] = 3"]
    assert texts_of(search(queries, "Refused", mode="substring")) == ["Refused: quota"]
    assert texts_of(search(queries, "A.B[0]", mode="substring")) == []


@pytest.mark.parametrize("order", ["newest", "oldest"])
def test_a_substring_holding_a_whole_token_is_found_below_and_above_the_high_water_mark(
    writer: Any, database: Path, queries: LogQueries, order: Any
) -> None:
    """Through the index up to its high-water mark, by a scan above it, in one order."""
    write(writer, WEB, ["job id=7 started", "job id=77 started", "job id=7 done", "job id=7 retried"])
    first_id = (queries.get_logs(GetLogs(name="web"), WEB).lines[0]).id
    with apsw.Connection(str(database)) as behind:  # the last two lines as if not yet indexed
        behind.set_busy_timeout(5_000)
        behind.execute("UPDATE fts_progress SET indexed_up_to = ?", (first_id + 1,))

    found = texts_of(search(queries, "id=7 ", mode="substring", order=order))

    expected = ["job id=7 started", "job id=7 done", "job id=7 retried"]
    assert found == (expected[::-1] if order == "newest" else expected)


@pytest.mark.parametrize("mode", ["words", "phrase", "fts5", "substring"])
def test_the_process_filter_keeps_only_its_lines(searchable: None, queries: LogQueries, mode: Any) -> None:
    result = search(queries, "refused", process_id=WORKER, mode=mode)

    assert [(match.name, match.text) for match in result.matches] == [
        ("worker", "db connection refused again")
    ]


@pytest.mark.parametrize("mode", ["words", "substring"])
def test_has_more_says_matches_were_left_out_by_the_limit(
    writer: Any, queries: LogQueries, mode: Any
) -> None:
    write(writer, WEB, [f"tick {number}" for number in range(5)])

    result = search(queries, "tick", mode=mode, limit=2)

    assert (texts_of(result), result.has_more) == (["tick 4", "tick 3"], True)
    assert not search(queries, "tick", mode=mode, limit=5).has_more


# What a model searches for ---------------------------------------------------------------


@pytest.fixture
def identifiers(writer: Any) -> None:
    write(
        writer,
        WEB,
        [
            "raise ConnectionRefusedError(111)",
            "TypeError: unsupported operand",
            "Error: disk full",
            "no errors here",
            "os.path.join failed for /usr/lib/python3/site-packages",
            "getHTTPResponse returned None",
            "user_id=5",
        ],
    )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            "Error",
            ["Error: disk full", "TypeError: unsupported operand", "raise ConnectionRefusedError(111)"],
        ),
        (
            "error",
            ["Error: disk full", "TypeError: unsupported operand", "raise ConnectionRefusedError(111)"],
        ),
        ("refused", ["raise ConnectionRefusedError(111)"]),
        ("ConnectionRefused", ["raise ConnectionRefusedError(111)"]),
        ("connectionrefusederror", ["raise ConnectionRefusedError(111)"]),
        ("type operand", ["TypeError: unsupported operand"]),
        ("HTTP response", ["getHTTPResponse returned None"]),
        ("path site", ["os.path.join failed for /usr/lib/python3/site-packages"]),
        ("user", ["user_id=5"]),
    ],
)
def test_words_mode_finds_a_word_inside_identifiers_whatever_its_case(
    identifiers: None, queries: LogQueries, query: str, expected: list[str]
) -> None:
    assert texts_of(search(queries, query)) == expected


def test_phrase_mode_finds_the_words_of_an_identifier_in_order(
    identifiers: None, queries: LogQueries
) -> None:
    assert texts_of(search(queries, "refused error", mode="phrase")) == ["raise ConnectionRefusedError(111)"]
    assert texts_of(search(queries, "error refused", mode="phrase")) == []


def test_a_coloured_word_is_found_and_returned_without_its_escapes(writer: Any, queries: LogQueries) -> None:
    write(
        writer,
        WEB,
        ["\x1b[31mFAILED\x1b[0m test_login", "downloading 10%\rdownloading 50%\rdownloading 100%"],
    )

    assert texts_of(search(queries, "failed")) == ["FAILED test_login"]
    assert texts_of(search(queries, "100")) == ["downloading 100%"]
    assert texts_of(search(queries, "50")) == []


def test_the_level_filter_keeps_lines_of_that_level_or_worse(writer: Any, queries: LogQueries) -> None:
    write(
        writer,
        WEB,
        [
            "2024-05-01 INFO request served",
            "2024-05-01 WARN slow request",
            "2024-05-01 ERROR request failed",
            'level=error msg="request failed again"',
            "ValueError: bad request",
            "request without a level, mentioning an error",
        ],
    )

    assert texts_of(search(queries, "request", level="error")) == [
        "ValueError: bad request",
        'level=error msg="request failed again"',
        "2024-05-01 ERROR request failed",
    ]
    assert len(search(queries, "request", level="warning").matches) == 4
    assert texts_of(search(queries, "request", mode="substring", level="warning", limit=1)) == [
        "ValueError: bad request"
    ]
    assert texts_of(search(queries, "req.*served", mode="regex", level="info")) == [
        "2024-05-01 INFO request served"
    ]


def test_since_until_stream_and_run_filters(writer: Any, queries: LogQueries) -> None:
    write(writer, WEB, ["tick early"], ts=TS - 3600, run_id=1)
    write(writer, WEB, ["tick late"], ts=TS, run_id=2)
    write(writer, WEB, ["tick late on stderr"], stream=STDERR, ts=TS, run_id=2)

    assert texts_of(search(queries, "tick", since="30m")) == ["tick late on stderr", "tick late"]
    assert texts_of(search(queries, "tick", until="30m")) == ["tick early"]
    assert texts_of(search(queries, "tick", since="2023-11-14T22:00:00Z")) == [
        "tick late on stderr",
        "tick late",
    ]
    assert texts_of(search(queries, "tick", stream="stderr", mode="substring")) == ["tick late on stderr"]
    assert texts_of(search(queries, "tick", run=1)) == ["tick early"]
    with pytest.raises(InvalidArgument, match="`since`"):
        search(queries, "tick", since="yesterday")
    with pytest.raises(InvalidArgument, match='run "current" needs `name`'):
        search(queries, "tick", run="current")


def test_run_current_is_the_latest_run_of_the_process(writer: Any, queries: LogQueries) -> None:
    write(writer, WEB, ["old run"], run_id=1)
    write(writer, WEB, ["this run"], run_id=2)
    writer.tell(RecordRunStart(1, WEB, 10, TS, "start_process"))
    writer.tell(RecordRunStart(2, WEB, 11, TS, "start_process"))
    writer.ask(Flush())

    assert texts_of(search(queries, "run", WEB, run="current")) == ["this run"]
    assert [match.run_id for match in search(queries, "run").matches] == [2, 1]


def test_context_shows_the_lines_around_each_match(writer: Any, queries: LogQueries) -> None:
    write(writer, WEB, ["one", "two", "three MATCH", "four", "five", "six MATCH"])
    write(writer, WORKER, ["other process"])

    result = search(queries, "match", context=1, order="oldest")

    assert [(texts_of_lines(m.before), m.text, texts_of_lines(m.after)) for m in result.matches] == [
        (["two"], "three MATCH", ["four"]),
        (["five"], "six MATCH", []),
    ]
    assert "> #" in result.summary() and "\n--\n" in result.summary()


def texts_of_lines(lines: list[Any]) -> list[str]:
    return [line.text for line in lines]


@pytest.mark.parametrize("mode", ["words", "substring", "regex"])
@pytest.mark.parametrize("order", ["newest", "oldest"])
def test_following_the_cursor_yields_every_match_once_in_order(
    writer: Any, queries: LogQueries, mode: Any, order: Any
) -> None:
    write(writer, WEB, [f"tick {number}" if number % 3 else f"tock {number}" for number in range(30)])
    expected = [f"tick {number}" for number in range(30) if number % 3]
    seen: list[str] = []
    cursor = None
    while True:
        page = search(queries, "tick", mode=mode, order=order, limit=7, cursor=cursor)
        seen += texts_of(page)
        if not page.has_more:
            break
        cursor = page.next_cursor

    assert seen == (expected if order == "oldest" else expected[::-1])


def test_a_regex_search_scans_a_window_of_lines_and_says_where_to_go_on(
    writer: Any, queries: LogQueries, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(log_queries, "REGEX_ROW_WINDOW", 10)
    write(writer, WEB, [f"line {number}" for number in range(25)])

    first = search(queries, r"line \d*[05]$", mode="regex")
    second = search(queries, r"line \d*[05]$", mode="regex", cursor=first.next_cursor)

    assert (texts_of(first), first.stopped, first.has_more) == (["line 20", "line 15"], "row_window", True)
    assert texts_of(second) == ["line 10", "line 5"]
    assert "scanned its window of rows" in first.summary()


def test_a_search_that_runs_out_of_time_answers_with_what_it_found(
    writer: Any, queries: LogQueries, connection: apsw.Connection
) -> None:
    write(writer, WEB, [f"line {number}" for number in range(2_000)])

    with ReadBudget(0.0).limit(connection, "search_logs"):
        result = search(queries, "no such line", mode="regex")

    assert (result.stopped, result.has_more) == ("time_budget", True)
    assert result.next_cursor is not None and "time budget" in result.summary()


def test_a_scan_out_of_time_before_its_first_row_says_to_narrow_the_search(
    writer: Any, queries: LogQueries, connection: apsw.Connection
) -> None:
    write(writer, WEB, [f"line {number}" for number in range(2_000)])

    # Nothing to show and nowhere to continue from: the answer is that the budget ran out.
    with (
        pytest.raises(BudgetExceeded, match="narrow it: name one process, a time range"),
        ReadBudget(0.0).limit(connection, "search_logs"),
    ):
        search(queries, "nosuchline", mode="substring")  # no whole token inside: a scan of every line


def test_an_invalid_regex_is_refused_with_the_reason(queries: LogQueries) -> None:
    with pytest.raises(InvalidArgument, match="not a regular expression"):
        search(queries, "(unclosed", mode="regex")
    with pytest.raises(InvalidArgument, match="repeats a repetition"):  # (a+)+ would backtrack for ever
        search(queries, "(a+)+$", mode="regex")


def test_matches_stop_at_the_budget_and_a_long_match_is_cut_around_the_match(
    writer: Any, queries: LogQueries
) -> None:
    write(writer, WEB, ["a" * 10_000 + " needle " + "b" * 10_000] * 3)

    result = search(queries, "needle", max_chars=5_000)

    assert len(result.matches) == 2 and result.stopped == "char_budget" and result.has_more
    assert "needle" in result.matches[0].text and result.matches[0].text.startswith("…")
    assert result.matches[0].cut > 18_000


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
    writer.tell(LogBatch(WEB, 1, [(STDOUT, TS, ["fresh"])]))
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
        result = search(LogQueries(connection), "indexed")
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
        result = search(LogQueries(connection), "late")
    finally:
        connection.close()

    assert (result.matches, result.unindexed) == ([], 1)
