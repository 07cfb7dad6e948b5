"""What the error tools answer: errors found in output, each with its text rendering.

An error is every occurrence of one fingerprint in one process: its category, its headline,
how often and in how many runs it happened, and the evidence of its latest occurrence (the
folded trace and the lines printed before it), kept even after the lines it came from are gone.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from pm_actors.log_results import Stream

ErrorCategory = Literal[
    "port_in_use",
    "module_not_found",
    "file_not_found",
    "permission_denied",
    "connection_refused",
    "out_of_memory",
    "segfault",
    "killed_by_signal",
    "syntax_error",
    "timeout",
    "unhandled_exception",
    "error_line",
    "exit_nonzero",
    "spawn_failed",
]
"""What went wrong, in words an agent can act on. `unhandled_exception`, `error_line` and
`exit_nonzero` are the general ones: a stack trace no specific rule names, a line that says it
is an error, a crash nothing else explains; `spawn_failed` is a run whose program never started."""


class SimilarError(msgspec.Struct, kw_only=True):
    """The same error (same fingerprint) in another process."""

    id: int
    name: str
    count: int


class ErrorRecord(msgspec.Struct, kw_only=True):
    """One error, however often it happened: repeats raise `count` and `last_seen`."""

    id: int
    name: str
    category: ErrorCategory
    message: str
    """The line that names the error, e.g. `ModuleNotFoundError: No module named 'flask'`."""
    error_type: str | None
    fingerprint: str
    count: int
    first_seen: str
    last_seen: str
    runs_affected: int
    last_run_id: int | None
    stream: Stream
    first_line_id: int | None
    last_line_id: int | None
    """The output lines the latest occurrence spans (they may since have been trimmed)."""
    trace: list[str]
    """The lines of the latest occurrence (a long trace keeps its first and last lines)."""
    frames: list[str]
    """The stack frames nearest the failure."""
    context: list[str]
    """Lines printed just before the latest occurrence."""
    resolved: bool
    resolved_at: str | None
    resolution_note: str | None
    """The note of the latest resolution (kept when the error comes back)."""
    reopened: int
    """How many times it came back after being marked resolved."""
    last_resolved_at: str | None
    similar: list[SimilarError]

    def summary(self) -> str:
        runs = f"{self.runs_affected} run{'s' if self.runs_affected != 1 else ''}"
        where = f"latest in run {self.last_run_id}" if self.last_run_id is not None else "latest"
        if self.first_line_id is not None:
            where += f", lines #{self.first_line_id}-#{self.last_line_id}"
        lines = [
            f"#{self.id} {self.name}: {self.category} x{self.count} in {runs} (first {self.first_seen}, "
            f"last {self.last_seen}; {where} on {self.stream}; fingerprint {self.fingerprint})"
            + _resolution(self),
            f"  {self.message}",
        ]
        if self.context:
            lines.append("  before: " + " | ".join(self.context))
        if len(self.trace) > 1 or self.trace[:1] != [self.message]:
            lines += ["  trace:", *(f"    {line}" for line in self.trace)]
        unshown = [frame for frame in self.frames if not any(frame in line for line in self.trace)]
        if unshown:
            lines.append("  more frames: " + " | ".join(unshown))
        if self.error_type and self.error_type not in "\n".join(lines):
            lines.append(f"  type: {self.error_type}")
        if self.similar:
            others = ", ".join(f"{other.name} (#{other.id} x{other.count})" for other in self.similar)
            lines.append(f"  the same error in: {others}")
        return "\n".join(lines)


def _resolution(error: ErrorRecord) -> str:
    came_back = (
        f"CAME BACK {_times(error.reopened)} after being resolved at {error.last_resolved_at}"
        if error.reopened
        else ""
    )
    note = f" (note: {error.resolution_note})" if error.resolution_note else ""
    if error.resolved:
        return f" RESOLVED at {error.resolved_at}{note}" + (
            f"; before that it {came_back}" if came_back else ""
        )
    return f" {came_back}{note}" if came_back else ""


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"


def _unchecked(lines: int) -> str:
    if not lines:
        return ""
    return f"\n({lines:,} newest output lines not yet checked for errors: ask again in a moment)"


class ErrorList(msgspec.Struct, kw_only=True):
    """Errors, newest first; `next_after_id` continues the listing."""

    errors: list[ErrorRecord]
    has_more: bool
    next_after_id: int | None
    unchecked_lines: int = 0
    """Output lines stored but not yet checked for errors (the newest): none is left out silently."""

    def summary(self) -> str:
        text = "\n".join(error.summary() for error in self.errors) or "No errors found."
        if self.has_more:
            text += f"\n(more errors: continue with after_id={self.next_after_id})"
        return text + _unchecked(self.unchecked_lines)


class ErrorOverview(msgspec.Struct, kw_only=True):
    """The unresolved errors, newest first, and how errors are spread and trending."""

    errors: list[ErrorRecord]
    unresolved: int
    by_category: dict[str, int]
    by_process: dict[str, int]
    """Occurrences of unresolved errors, by category and by process."""
    trend_since: str
    """The start of the first hour of `per_hour`."""
    per_hour: list[int]
    """Occurrences of every error in each of the last 24 hours, oldest first."""
    unchecked_lines: int = 0

    def summary(self) -> str:
        if not self.unresolved and not any(self.per_hour):
            quiet = f"No unresolved errors, and none since {self.trend_since} (the last 24 hours)."
            return quiet + _unchecked(self.unchecked_lines)
        spread = ", ".join(f"{name} {count}" for name, count in self.by_category.items()) or "none"
        processes = ", ".join(f"{name} {count}" for name, count in self.by_process.items()) or "none"
        trend = " ".join(str(count) for count in self.per_hour)
        lines = [
            f"{self.unresolved} unresolved errors. Occurrences by category: {spread}. "
            f"By process: {processes}.",
            f"Occurrences per hour since {self.trend_since} (oldest first): {trend}",
            *(error.summary() for error in self.errors),
        ]
        return "\n".join(lines) + _unchecked(self.unchecked_lines)
