"""The read queries: pages of lines, the newest lines, and searches, over one read-only connection.

Plain SQL, with a Python check per candidate line for a regex or a level, testable without
actors. The caller runs each read within its time budget (`read_budget`: SQLite interrupts a
statement past it), and a regex search scans a bounded window of lines: one request never
holds a reader for long. A read the budget interrupts after it has something to show answers
with it and where to continue (`stopped`, `next_cursor`, `has_more`); one interrupted before
that lets the interruption through, and the budget answers that it ran out. Every answer's
text is sized by a `CharBudget`.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, get_args

import apsw

from pm_actors.actors.line_budget import CharBudget
from pm_actors.actors.log_text import LEVELS, line_level
from pm_actors.actors.messages import STREAM_NAMES
from pm_actors.actors.search_terms import focus, fts5_query, substring_prefilter, with_level
from pm_actors.actors.store import indexed_up_to
from pm_actors.actors.time_bounds import parse_time
from pm_actors.api import GetLogs, SearchLogs, TailLogs
from pm_actors.client_regex import compile_client_regex
from pm_actors.errors import InvalidArgument
from pm_actors.log_results import LogLine, LogLines, LogTail, SearchMatch, SearchResult, SearchStop
from pm_actors.request_base import MAX_LIMIT, SearchMode
from pm_actors.results import iso_utc

REGEX_ROW_WINDOW = 200_000
"""Lines a regex search scans per call (a few tenths of a second in Python)."""
SEARCH_MODES: tuple[SearchMode, ...] = get_args(SearchMode)

Row = tuple[Any, ...]
LINE_COLUMNS = "l.id, l.run_id, l.stream, l.ts, l.line"
_MATCH_COLUMNS = f"{LINE_COLUMNS}, coalesce(p.name, '#' || l.process_id), l.process_id"
# A line whose definition is gone still shows, under its process id, rather than vanishing.
_NAME_JOIN = "LEFT JOIN processes p ON p.id = l.process_id"


@dataclass
class Found:
    """What a search collected, and why it stopped where it did."""

    matches: list[SearchMatch] = field(default_factory=list)
    has_more: bool = False
    stopped: SearchStop | None = None
    scanned: int = 0
    last_scanned: int | None = None


class LogQueries:
    """The read queries, over one read-only connection (used by one thread at a time)."""

    def __init__(self, connection: apsw.Connection) -> None:
        self._connection = connection

    def get_logs(self, request: GetLogs, process_id: int) -> LogLines:
        """Lines after `after_id`, oldest first; `next_after_id` continues where this page ends."""
        _check_limit(request.limit)
        stream, stream_args = _stream_filter(request.stream)
        sql = (
            f"SELECT {LINE_COLUMNS} FROM logs l WHERE l.process_id = ? AND l.id > ?{stream}"
            " ORDER BY l.id LIMIT ?"
        )
        budget = CharBudget(request.max_chars, request.max_line_chars)
        rows = self._connection.execute(sql, (process_id, request.after_id, *stream_args, request.limit + 1))
        lines, has_more = _take_lines(rows, request.limit, budget, request.name)
        next_after_id = lines[-1].id if lines else request.after_id
        return LogLines(
            lines=lines, next_after_id=next_after_id, has_more=has_more, budget_reached=budget.reached
        )

    def tail_logs(self, request: TailLogs, process_id: int, now: float) -> LogTail:
        """The newest lines (before `before_id`, since `since`), oldest of them first;
        `next_before_id` pages back to older ones, `next_after_id` follows new output with
        get_logs. A process's lines are stamped in the order of their ids, so the tail stops
        at its first line older than `since`: nothing older is read."""
        _check_limit(request.limit)
        stream, stream_args = _stream_filter(request.stream)
        before = request.before_id or 1 << 62
        sql = (
            f"SELECT {LINE_COLUMNS} FROM logs l WHERE l.process_id = ? AND l.id < ?{stream}"
            " ORDER BY l.id DESC LIMIT ?"
        )
        budget = CharBudget(request.max_chars, request.max_line_chars)
        rows: Iterable[Row] = self._connection.execute(
            sql, (process_id, before, *stream_args, request.limit + 1)
        )
        if request.since is not None:
            since = parse_time(request.since, now, "since")
            rows = itertools.takewhile(lambda row: row[3] >= since, rows)
        newest_first, has_more = _take_lines(rows, request.limit, budget, request.name)
        lines = newest_first[::-1]
        return LogTail(
            lines=lines,
            next_after_id=lines[-1].id if lines else (request.before_id or 1) - 1,
            has_more=has_more,
            budget_reached=budget.reached,
            next_before_id=lines[0].id if has_more and lines else None,
        )

    def search(self, request: SearchLogs, process_id: int | None, now: float) -> SearchResult:
        """Matching lines of one process (or all), in the order asked.

        Raises InvalidArgument for a query that cannot be run, with what to do instead."""
        _check_limit(request.limit)
        if request.mode not in SEARCH_MODES:
            raise InvalidArgument(
                f"unknown search mode {request.mode!r}: use one of {', '.join(SEARCH_MODES)}"
            )
        pattern = compile_client_regex(request.query, "query") if request.mode == "regex" else None
        level = None if request.level is None else LEVELS.index(request.level)
        budget = CharBudget(request.max_chars, request.max_line_chars)
        with self._connection:  # one read transaction: matches and unindexed agree
            where, args = self._filters(request, process_id, now)
            # Counted first: once the time budget interrupts the search, no statement runs.
            unindexed = 0 if request.mode in ("substring", "regex") else self._unindexed_count(process_id)
            rows = functools.partial(self._candidates, request, level, where, args)
            found = self._collect(rows, request, level, pattern, budget)
        if request.mode == "regex" and not found.has_more and found.scanned >= REGEX_ROW_WINDOW:
            found.stopped, found.has_more = "row_window", True  # there may be more beyond the window
        return SearchResult(
            matches=found.matches,
            has_more=found.has_more,
            unindexed=unindexed,
            next_cursor=_next_cursor(found) if found.has_more else None,
            stopped=found.stopped,
        )

    def _filters(self, request: SearchLogs, process_id: int | None, now: float) -> tuple[str, list[Any]]:
        """The SQL conditions on `l` (logs) of every filter the request sets."""
        clauses: list[str] = []
        args: list[Any] = []
        run_id = self._run_id(request, process_id)
        for clause, value in (
            ("l.process_id = ?", process_id),
            ("l.run_id = ?", run_id),
            ("l.stream = ?", None if request.stream is None else STREAM_NAMES.index(request.stream)),
            ("l.ts >= ?", None if request.since is None else parse_time(request.since, now, "since")),
            ("l.ts < ?", None if request.until is None else parse_time(request.until, now, "until")),
        ):
            if value is not None:
                clauses.append(clause)
                args.append(value)
        return "".join(f" AND {clause}" for clause in clauses), args

    def _run_id(self, request: SearchLogs, process_id: int | None) -> int | None:
        if request.run != "current":
            return request.run
        if process_id is None:
            raise InvalidArgument('run "current" needs `name`: the latest run of which process?')
        latest = self._connection.execute("SELECT max(id) FROM runs WHERE process_id = ?", (process_id,)).get
        return -1 if latest is None else int(latest)  # never run: nothing matches

    def _candidates(
        self, request: SearchLogs, level: int | None, where: str, args: list[Any]
    ) -> Iterable[Row]:
        """Rows that may match, in the order asked, after the cursor."""
        newest = request.order == "newest"
        direction, before_or_after = ("DESC", "<") if newest else ("ASC", ">")
        if request.cursor is not None:
            where += f" AND l.id {before_or_after} ?"
            args = [*args, request.cursor]
        if request.mode == "regex":
            sql = (
                f"SELECT {_MATCH_COLUMNS} FROM logs l {_NAME_JOIN} WHERE 1{where}"
                f" ORDER BY l.id {direction} LIMIT ?"
            )
            return self._connection.execute(sql, (*args, REGEX_ROW_WINDOW))
        if request.mode == "substring":
            return self._substring_candidates(request.query, where, args, newest)
        # CROSS JOIN keeps the index as the outer loop: it yields rowids in the order asked, so
        # the query stops after limit + 1 matches instead of sorting every match.
        expression = with_level(fts5_query(request.query, request.mode), level)
        sql = (
            f"SELECT {_MATCH_COLUMNS} FROM logs_fts f CROSS JOIN logs l ON l.id = f.rowid {_NAME_JOIN}"
            f" WHERE logs_fts MATCH ?{where} ORDER BY f.rowid {direction}"
        )
        try:  # FTS5 reads the expression on the first step, which execute() takes
            return self._connection.execute(sql, (expression, *args))
        except apsw.SQLError as error:
            if request.mode != "fts5":
                raise
            raise InvalidArgument(
                f"the fts5 query {request.query!r} is not valid: {error}. Put text with special characters"
                ' in double quotes ("a.b"), or use mode "words" (no syntax) or "substring" (exact text).'
            ) from error

    def _substring_candidates(self, query: str, where: str, args: list[Any], newest: bool) -> Iterable[Row]:
        """Lines holding `query`: a scan, or, when the query holds a whole token
        (`substring_prefilter`), the index's candidates up to its high-water mark and a scan
        of the lines above it, in the order asked."""
        direction = "DESC" if newest else "ASC"
        scan = f"SELECT {_MATCH_COLUMNS} FROM logs l {_NAME_JOIN} WHERE instr(l.line, ?) > 0{where}"
        prefilter = substring_prefilter(query)
        if prefilter is None:
            return self._connection.execute(f"{scan} ORDER BY l.id {direction}", (query, *args))
        up_to = indexed_up_to(self._connection)

        def unindexed() -> Iterable[Row]:
            sql = f"{scan} AND l.id > ? ORDER BY l.id {direction}"
            return self._connection.execute(sql, (query, *args, up_to))

        def indexed() -> Iterable[Row]:
            sql = (
                f"SELECT {_MATCH_COLUMNS} FROM logs_fts f CROSS JOIN logs l ON l.id = f.rowid {_NAME_JOIN}"
                f" WHERE logs_fts MATCH ? AND instr(l.line, ?) > 0{where} AND l.id <= ?"
                f" ORDER BY f.rowid {direction}"
            )
            return self._connection.execute(sql, (prefilter, query, *args, up_to))

        parts = (unindexed, indexed) if newest else (indexed, unindexed)
        return itertools.chain.from_iterable(part() for part in parts)

    def _collect(
        self,
        rows: Callable[[], Iterable[Row]],
        request: SearchLogs,
        level: int | None,
        pattern: re.Pattern[str] | None,
        budget: CharBudget,
    ) -> Found:
        found = Found()
        try:
            for row in rows():  # started here: its first step may use up the time budget too
                if _keeps(row[4], level, pattern):
                    if len(found.matches) == request.limit:
                        found.has_more = True
                        return found
                    match = self._match(row, request, pattern, budget)
                    if match is None:
                        found.stopped, found.has_more = "char_budget", True
                        return found
                    found.matches.append(match)
                found.scanned += 1
                found.last_scanned = row[0]
        except apsw.InterruptError:
            if found.last_scanned is None:
                raise  # nowhere to continue from: the read's budget answers that it ran out
            found.stopped, found.has_more = "time_budget", True
        return found

    def _match(
        self, row: Row, request: SearchLogs, pattern: re.Pattern[str] | None, budget: CharBudget
    ) -> SearchMatch | None:
        """A match with its context lines, if its line fits the budget (the context as fits)."""
        line_id, run_id, stream, ts, text, name, process_id = row
        taken = budget.take(text, name, line_id, focus(text, request.query, request.mode, pattern))
        if taken is None:
            return None
        before = after = []
        if request.context:
            before = self._context(process_id, line_id, "<", request.context, budget, name)[::-1]
            after = self._context(process_id, line_id, ">", request.context, budget, name)
        shown, cut = taken
        return SearchMatch(
            id=line_id,
            run_id=run_id,
            name=name,
            stream=STREAM_NAMES[stream],
            ts=_iso(ts),
            text=shown,
            cut=cut,
            before=before,
            after=after,
        )

    def _context(
        self, process_id: int, line_id: int, side: str, count: int, budget: CharBudget, name: str
    ) -> list[LogLine]:
        order = "DESC" if side == "<" else "ASC"
        sql = (
            f"SELECT {LINE_COLUMNS} FROM logs l WHERE l.process_id = ? AND l.id {side} ?"
            f" ORDER BY l.id {order} LIMIT ?"
        )
        lines, _ = _take_lines(
            self._connection.execute(sql, (process_id, line_id, count)), count, budget, name
        )
        return lines

    def _unindexed_count(self, process_id: int | None) -> int:
        """Stored lines above the index's high-water mark, which an indexed search cannot see:
        the writer indexes behind the inserts, and a search waits only briefly for it."""
        process_filter = "" if process_id is None else " AND l.process_id = ?"
        sql = (
            "SELECT count(*) FROM logs l WHERE l.id > (SELECT indexed_up_to FROM fts_progress)"
            + process_filter
        )
        return int(self._connection.execute(sql, () if process_id is None else (process_id,)).get)


def _keeps(text: str, level: int | None, pattern: re.Pattern[str] | None) -> bool:
    """The checks SQL cannot make: the regex, and the line's own level."""
    if pattern is not None and pattern.search(text) is None:
        return False
    return level is None or (line_level(text) or -1) >= level


def _next_cursor(found: Found) -> int | None:
    """Where to continue: after the last match returned, or, when the scan itself was cut
    short, after the last line it looked at."""
    if found.stopped in ("time_budget", "row_window"):
        return found.last_scanned
    return found.matches[-1].id if found.matches else found.last_scanned


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgument(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")


def _stream_filter(stream: str | None) -> tuple[str, tuple[int, ...]]:
    if stream is None:
        return "", ()
    return " AND l.stream = ?", (STREAM_NAMES.index(stream),)


def _iso(ts: float) -> str:
    return iso_utc(ts) or ""


def log_line_from_row(row: Row, text: str | None = None, cut: int = 0) -> LogLine:
    """A LogLine from a `SELECT {LINE_COLUMNS}` row, its text as given (cut) or as stored."""
    line_id, run_id, stream, ts, stored = row
    return LogLine(
        id=line_id,
        run_id=run_id,
        stream=STREAM_NAMES[stream],
        ts=_iso(ts),
        text=stored if text is None else text,
        cut=cut,
    )


def _take_lines(rows: Iterable[Row], limit: int, budget: CharBudget, name: str) -> tuple[list[LogLine], bool]:
    """Up to `limit` lines within the budget; `rows` should yield limit + 1 when it can, so
    that a further row shows there is more. Returns (lines, has_more); lines read before the
    time budget interrupts the read are an answer that has more."""
    lines: list[LogLine] = []
    try:
        for row in rows:
            if len(lines) == limit:
                return lines, True
            taken = budget.take(row[4], name, row[0])
            if taken is None:
                return lines, True
            lines.append(log_line_from_row(row, *taken))
    except apsw.InterruptError:
        if not lines:
            raise  # nothing to show: the read's budget answers that it ran out
        return lines, True
    return lines, False
