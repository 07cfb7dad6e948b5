"""Reading stored output: pages of lines, the newest lines, and searches.

`LogQueries` is plain SQL over a read-only connection, testable without actors. The
`LogReaderActor` answers `ReadLogs` messages: before each read it asks the writer to flush, so
a client sees every line the daemon had received when it asked, then it hands the read to a
lane of workers with their own connections (`read_lanes`), each read within its time budget.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar, cast, get_args

import apsw
import pykka

from pm_actors.actors.base import DaemonActor
from pm_actors.actors.messages import STREAM_NAMES, Flush, ReadLogs
from pm_actors.actors.read_budget import ReadBudget
from pm_actors.actors.read_lanes import PAGE_WORKERS, SEARCH_WORKERS, ReadLane
from pm_actors.api import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_QUERY_WORDS,
    GetLogs,
    SearchLogs,
    SearchMode,
    TailLogs,
    tool_name,
)
from pm_actors.errors import InternalError, InvalidArgument
from pm_actors.results import LogLine, LogLines, SearchMatch, SearchResult, Stream, iso_utc

logger = logging.getLogger(__name__)

MAX_RESULT_TEXT_BYTES = 1024 * 1024
"""Text (UTF-8) one result may carry: a model's context is small, and one page of huge lines
must not become a multi-megabyte message. Reaching it is reported, never silent."""
SEARCH_INDEX_WAIT_S = 0.2
"""How long a words/phrase/fts5 search lets the index catch up (~40,000 lines); lines still
unindexed after it are reported in the result's `unindexed`."""

WORD = re.compile(r"\w+")
"""A word as a search sees it. Quoted, FTS5's unicode61 tokenizer reads it as the same word (or,
for one with an underscore, which it splits on, as the phrase of its parts)."""
SEARCH_MODES: tuple[SearchMode, ...] = get_args(SearchMode)

Row = tuple[Any, ...]
Item = TypeVar("Item", LogLine, SearchMatch)

_LINE_COLUMNS = "id, stream, ts, line"
_MATCH_COLUMNS = "l.id, l.stream, l.ts, l.line, coalesce(p.name, '#' || l.process_id)"
# A line whose definition is gone still shows, under its process id, rather than vanishing.
_NAME_JOIN = "LEFT JOIN processes p ON p.id = l.process_id"


class LogQueries:
    """The read queries, over one read-only connection (used by one thread at a time)."""

    def __init__(self, connection: apsw.Connection) -> None:
        self._connection = connection

    def get_logs(
        self, process_id: int, after_id: int = 0, limit: int = DEFAULT_LIMIT, stream: Stream | None = None
    ) -> LogLines:
        """Lines after `after_id`, oldest first; `next_after_id` continues where this page ends."""
        _check_limit(limit)
        stream_filter, stream_args = _stream_filter(stream)
        rows = self._connection.execute(
            f"SELECT {_LINE_COLUMNS} FROM logs WHERE process_id = ? AND id > ?{stream_filter}"
            " ORDER BY id LIMIT ?",
            (process_id, after_id, *stream_args, limit + 1),
        )
        lines, has_more, cap_reached = _take_within_cap(map(log_line_from_row, rows), limit)
        next_after_id = lines[-1].id if lines else after_id
        return LogLines(
            lines=lines, next_after_id=next_after_id, has_more=has_more, byte_cap_reached=cap_reached
        )

    def tail_logs(
        self, process_id: int, limit: int = DEFAULT_LIMIT, stream: Stream | None = None
    ) -> LogLines:
        """The newest lines, oldest of them first; `has_more` says older lines exist.

        `next_after_id` is the newest id (0 when there is none), so a client can follow the
        output with get_logs from there."""
        _check_limit(limit)
        stream_filter, stream_args = _stream_filter(stream)
        rows = self._connection.execute(
            f"SELECT {_LINE_COLUMNS} FROM logs WHERE process_id = ?{stream_filter} ORDER BY id DESC LIMIT ?",
            (process_id, *stream_args, limit + 1),
        )
        newest_first, has_more, cap_reached = _take_within_cap(map(log_line_from_row, rows), limit)
        lines = newest_first[::-1]
        next_after_id = lines[-1].id if lines else 0
        return LogLines(
            lines=lines, next_after_id=next_after_id, has_more=has_more, byte_cap_reached=cap_reached
        )

    def search(
        self,
        query: str,
        process_id: int | None = None,
        mode: SearchMode = "words",
        limit: int = DEFAULT_LIMIT,
    ) -> SearchResult:
        """Matching lines of one process (or all), newest first.

        Raises InvalidArgument for a query that cannot be run, with what to do instead."""
        _check_limit(limit)
        if mode not in SEARCH_MODES:
            raise InvalidArgument(f"unknown search mode {mode!r}: use one of {', '.join(SEARCH_MODES)}")
        if not query:
            raise InvalidArgument("the search query is empty: give a word or some text to look for")
        with self._connection:  # one read transaction: matches and the unindexed count agree
            if mode == "substring":
                matches, has_more, cap_reached = self._substring_matches(query, process_id, limit)
                # A substring search reads the rows themselves, so it sees every stored line.
                unindexed = 0
            else:
                matches, has_more, cap_reached = self._indexed_matches(
                    fts5_query(query, mode), mode, process_id, limit
                )
                unindexed = self._unindexed_count(process_id)
        return SearchResult(
            matches=matches, has_more=has_more, unindexed=unindexed, byte_cap_reached=cap_reached
        )

    def _indexed_matches(
        self, match: str, mode: SearchMode, process_id: int | None, limit: int
    ) -> tuple[list[SearchMatch], bool, bool]:
        process_filter, process_args = _process_filter(process_id)
        # CROSS JOIN keeps the index as the outer loop: it yields rowids newest first, so the
        # query stops after limit + 1 matches instead of sorting every match.
        sql = (
            f"SELECT {_MATCH_COLUMNS} FROM logs_fts f CROSS JOIN logs l ON l.id = f.rowid {_NAME_JOIN}"
            f" WHERE logs_fts MATCH ?{process_filter} ORDER BY f.rowid DESC LIMIT ?"
        )
        try:
            rows = self._connection.execute(sql, (match, *process_args, limit + 1))
            return _take_matches(rows, limit)
        except apsw.SQLError as error:
            if mode != "fts5":
                raise
            raise InvalidArgument(
                f"the fts5 query {match!r} is not valid: {error}. Put text with special characters"
                ' in double quotes ("a.b"), or use mode "words" (no syntax) or "substring" (exact text).'
            ) from error

    def _substring_matches(
        self, text: str, process_id: int | None, limit: int
    ) -> tuple[list[SearchMatch], bool, bool]:
        # No trigram index (about 10x slower to build than FTS5): scan newest first instead,
        # which stops as soon as limit + 1 lines match.
        process_filter, process_args = _process_filter(process_id)
        sql = (
            f"SELECT {_MATCH_COLUMNS} FROM logs l {_NAME_JOIN}"
            f" WHERE instr(l.line, ?) > 0{process_filter} ORDER BY l.id DESC LIMIT ?"
        )
        return _take_matches(self._connection.execute(sql, (text, *process_args, limit + 1)), limit)

    def _unindexed_count(self, process_id: int | None) -> int:
        """Stored lines above the index's high-water mark, which an indexed search cannot see:
        the writer indexes behind the inserts, and a search waits only briefly for it."""
        process_filter, process_args = _process_filter(process_id)
        sql = (
            "SELECT count(*) FROM logs l WHERE l.id > (SELECT indexed_up_to FROM fts_progress)"
            f"{process_filter}"
        )
        return int(self._connection.execute(sql, process_args).get)


def fts5_query(query: str, mode: SearchMode) -> str:
    """The FTS5 MATCH expression for a query in `words`, `phrase` or raw `fts5` mode."""
    words = WORD.findall(query)
    if len(words) > MAX_QUERY_WORDS:
        raise InvalidArgument(
            f"the query has {len(words)} words, more than the {MAX_QUERY_WORDS} a search takes "
            "(each one is another term to intersect): keep the most specific ones"
        )
    if mode == "fts5":
        return query
    if not words:
        raise InvalidArgument(
            f"the query {query!r} has no words (letters or digits) for mode {mode!r}:"
            ' use mode "substring" to find punctuation or other exact text'
        )
    if mode == "phrase":
        return _quoted(query)
    return " ".join(_quoted(word) for word in words)  # juxtaposed strings: all must occur


def _quoted(text: str) -> str:
    """An FTS5 string: no operator or special character inside it has any effect."""
    return '"' + text.replace('"', '""') + '"'


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgument(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")


def _stream_filter(stream: Stream | None) -> tuple[str, tuple[int, ...]]:
    if stream is None:
        return "", ()
    return " AND stream = ?", (STREAM_NAMES.index(stream),)


def _process_filter(process_id: int | None) -> tuple[str, tuple[int, ...]]:
    if process_id is None:
        return "", ()
    return " AND l.process_id = ?", (process_id,)


def _iso(ts: float) -> str:
    # iso_utc answers None only for None.
    return cast(str, iso_utc(ts))


def _stream_name(code: int) -> Stream:
    return cast(Stream, STREAM_NAMES[code])


def log_line_from_row(row: Row) -> LogLine:
    """A LogLine from a `SELECT id, stream, ts, line` row."""
    line_id, stream, ts, text = row
    return LogLine(id=line_id, stream=_stream_name(stream), ts=_iso(ts), text=text)


def _search_match(row: Row) -> SearchMatch:
    line_id, stream, ts, text, name = row
    return SearchMatch(id=line_id, name=name, stream=_stream_name(stream), ts=_iso(ts), text=text)


def _take_matches(rows: Iterable[Row], limit: int) -> tuple[list[SearchMatch], bool, bool]:
    return _take_within_cap(map(_search_match, rows), limit)


def _take_within_cap(items: Iterable[Item], limit: int) -> tuple[list[Item], bool, bool]:
    """Up to `limit` items whose text fits MAX_RESULT_TEXT_BYTES (at least one, however large).

    Returns (items, has_more, byte_cap_reached); `items` should yield limit + 1 when it can, so
    that a further item shows there is more."""
    taken: list[Item] = []
    total = 0
    for item in items:
        if len(taken) == limit:
            return taken, True, False
        size = len(item.text.encode())
        if taken and total + size > MAX_RESULT_TEXT_BYTES:
            return taken, True, True
        taken.append(item)
        total += size
    return taken, False, False


class LogReaderActor(DaemonActor):
    """Answers `ReadLogs`: asks the writer to flush, then runs the read on a lane
    (`read_lanes`): searches on one, pages and tails on the other, each read on a worker's
    own read-only connection (WAL) within its time budget, so this actor is free again at once."""

    may_ask = frozenset({"LogWriterActor"})

    def __init__(self, database_path: Path, writer: pykka.ActorRef[Any], budget: ReadBudget) -> None:
        """Runs in the thread that creates the actor; the lanes start in `on_start`."""
        super().__init__()
        self._database_path = database_path
        self._writer = writer
        self._budget = budget
        self._lanes: dict[bool, ReadLane] = {}

    def on_start(self) -> None:
        """Runs in the actor's thread, after the writer has created the database."""
        path, budget = self._database_path, self._budget
        self._lanes = {
            True: ReadLane(path, SEARCH_WORKERS, "pm-search", budget, self.failure_of),
            False: ReadLane(path, PAGE_WORKERS, "pm-read", budget, self.failure_of),
        }

    def on_stop(self) -> None:
        """Runs in the actor's thread after its last message: reads under way end first."""
        for lane in self._lanes.values():
            lane.close()
        super().on_stop()

    def handle(self, message: Any) -> Any:
        """Runs in the actor's thread, one ReadLogs at a time."""
        if not isinstance(message, ReadLogs):
            raise InternalError(f"the log reader cannot handle {type(message).__name__}")
        # The writer may hold lines received before this read: they must be in the answer.
        self.ask(self._writer, Flush(index_budget_s=_index_budget(message.request)))
        search = isinstance(message.request, SearchLogs)
        what = tool_name(type(message.request))
        self._lanes[search].submit(message.reply, what, lambda connection: answer_read(connection, message))
        return None


def answer_read(connection: apsw.Connection, message: ReadLogs) -> LogLines | SearchResult:
    """The result of one log read, on `connection` (a lane worker's)."""
    queries = LogQueries(connection)
    request = message.request
    if isinstance(request, SearchLogs):
        return queries.search(request.query, message.process_id, request.mode, request.limit)
    if message.process_id is None:
        raise InternalError(f"{type(request).__name__} reached the log reader without a process id")
    if isinstance(request, GetLogs):
        return queries.get_logs(message.process_id, request.after_id, request.limit, request.stream)
    if isinstance(request, TailLogs):
        return queries.tail_logs(message.process_id, request.limit, request.stream)
    raise InternalError(f"the log reader cannot answer {type(request).__name__}")


def _index_budget(request: GetLogs | TailLogs | SearchLogs) -> float:
    """How long the writer may index before this read: only an indexed search needs it."""
    if isinstance(request, SearchLogs) and request.mode != "substring":
        return SEARCH_INDEX_WAIT_S
    return 0.0
