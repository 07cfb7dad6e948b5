"""What the log tools answer: lines, searches and clears, each with its text rendering.

A line's `text` is what was stored (clean: no ANSI escapes), cut to the caller's per-line cap
with a visible marker saying how much was left out and how to read the whole line. A page of
lines renders one line each as `#id time stream text`, under a heading whenever the run or the
day changes, so that runs of one process can be told apart and any line found again by its id.
"""

from __future__ import annotations

from typing import Literal

import msgspec

Stream = Literal["stdout", "stderr", "stdin"]
"""stdin: what send_input wrote to the process, stored between its output lines in order."""
SearchStop = Literal["char_budget", "time_budget", "row_window"]

_STREAM_LABELS = {"stdout": "out", "stderr": "err", "stdin": "in"}


class LogLine(msgspec.Struct, kw_only=True):
    id: int
    run_id: int
    stream: Stream
    ts: str
    text: str
    cut: int = 0
    """Characters of the stored line left out of `text` (0: the whole line is here)."""


class LogLines(msgspec.Struct, kw_only=True):
    """A page of output lines in the order they were printed."""

    lines: list[LogLine]
    next_after_id: int
    has_more: bool
    budget_reached: bool = False
    """True when the page stopped early because its text reached `max_chars`."""

    def summary(self) -> str:
        text = render_lines(self.lines) or "No output lines."
        if self.budget_reached:
            return (
                text
                + f"\n(stopped at max_chars; continue with after_id={self.next_after_id} or raise max_chars)"
            )
        if self.has_more:
            return text + f"\n(more lines: continue with after_id={self.next_after_id})"
        return text + f"\n(no more lines yet; new output: after_id={self.next_after_id})"


class LogTail(LogLines, kw_only=True):
    """The newest lines, oldest of them first. `next_after_id` follows new output with
    get_logs; `next_before_id` pages back to older lines with tail_logs."""

    next_before_id: int | None = None
    """Give this as `before_id` for the lines before these; null when there are none."""

    def summary(self) -> str:
        text = render_lines(self.lines) or "No output lines."
        if self.next_before_id is not None:
            reason = "stopped at max_chars; " if self.budget_reached else ""
            text += f"\n({reason}older lines: tail_logs before_id={self.next_before_id})"
        return text + f"\n(new output: get_logs after_id={self.next_after_id})"


class SearchMatch(msgspec.Struct, kw_only=True):
    id: int
    run_id: int
    name: str
    stream: Stream
    ts: str
    text: str
    cut: int = 0
    """Characters of the stored line left out of `text` (0: the whole line is here)."""
    before: list[LogLine] = []
    """Up to `context` lines of the same process just before the match, oldest first."""
    after: list[LogLine] = []
    """Up to `context` lines of the same process just after the match, oldest first."""


class SearchResult(msgspec.Struct, kw_only=True):
    """Matching lines, newest first unless asked otherwise."""

    matches: list[SearchMatch]
    has_more: bool
    unindexed: int
    """Lines stored but not yet in the full-text index, which a words/phrase/fts5 search cannot see."""
    next_cursor: int | None = None
    """Give this as `cursor` (with the same query and order) to continue where this answer ended."""
    stopped: SearchStop | None = None
    """Why the answer ended before `limit` matches when it did: its text reached max_chars, the
    search used its time budget, or a regex search scanned its window of rows."""

    def summary(self) -> str:
        parts = [_render_matches(self.matches) or "No matching lines."]
        if self.stopped is not None:
            parts.append(_STOP_EXPLANATIONS[self.stopped].format(cursor=self.next_cursor))
        elif self.has_more:
            parts.append(f"(more matches: continue with cursor={self.next_cursor}, or narrow the query)")
        if self.unindexed:
            parts.append(
                f"({self.unindexed:,} newest lines are not indexed yet and were not searched: "
                'search again in a moment, or use mode "substring")'
            )
        return "\n".join(parts)


_STOP_EXPLANATIONS: dict[SearchStop, str] = {
    "char_budget": "(stopped at max_chars; continue with cursor={cursor} or raise max_chars)",
    "time_budget": "(stopped at the time budget; continue with cursor={cursor}, or narrow: name, since)",
    "row_window": "(scanned its window of rows; continue with cursor={cursor}, or narrow: name, since)",
}


class ClearedLogs(msgspec.Struct, kw_only=True):
    """What clear_logs deleted."""

    name: str | None
    """The process whose lines were deleted; null for every process."""
    before: str | None
    """Only lines stamped before this (UTC) were deleted; null for all of them."""
    lines_deleted: int

    def summary(self) -> str:
        whose = f"of {self.name}" if self.name else "of every process"
        when = f" stamped before {self.before}" if self.before else ""
        return f"Deleted {self.lines_deleted:,} stored lines {whose}{when}, with their search index entries."


def render_lines(lines: list[LogLine]) -> str:
    """`#id time stream text` per line, under a `run N, day:` heading when either changes."""
    return _render([("", line, "") for line in lines])


def _render_matches(matches: list[SearchMatch]) -> str:
    """Matches under `name run N, day:` headings; with context, each in a block of its own
    between `--` lines, the match marked `>` among the lines around it (as grep -C shows)."""
    entries = [("> " if match.before or match.after else "", match) for match in matches]
    if not any(marker for marker, _ in entries):
        return _render([(match.name, line_of_match(match), "") for match in matches])
    blocks = [
        _render(
            [(match.name, line, "  ") for line in match.before]
            + [(match.name, line_of_match(match), marker)]
            + [(match.name, line, "  ") for line in match.after]
        )
        for marker, match in entries
    ]
    return "\n--\n".join(blocks)


def line_of_match(match: SearchMatch) -> LogLine:
    """The matching line alone, as a page of lines shows it."""
    return LogLine(
        id=match.id, run_id=match.run_id, stream=match.stream, ts=match.ts, text=match.text, cut=match.cut
    )


def _render(entries: list[tuple[str, LogLine, str]]) -> str:
    """(process name or "", line, marker) each on its own row, headings where they change."""
    rendered: list[str] = []
    heading = ""
    for name, line, marker in entries:
        current = f"{name} run {line.run_id}, {line.ts[:10]}:".lstrip()
        if current != heading:
            heading = current
            rendered.append(heading)
        rendered.append(f"{marker}#{line.id} {line.ts[11:23]} {_STREAM_LABELS[line.stream]} {line.text}")
    return "\n".join(rendered)
