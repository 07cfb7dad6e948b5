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

TRACE_LINES_IN_TEXT = 12
"""Lines of a trace shown in an error's text (its last ones, where the error is named); the
structured content carries the whole kept trace."""


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
    frames: list[str]
    context: list[str]
    """Lines printed just before the latest occurrence."""
    resolved: bool
    resolved_at: str | None
    resolution_note: str | None
    reopened: int
    """How many times it came back after being marked resolved."""
    last_resolved_at: str | None
    similar: list[SimilarError]

    def summary(self) -> str:
        runs = f"{self.runs_affected} run{'s' if self.runs_affected != 1 else ''}"
        head = (
            f"#{self.id} {self.name}: {self.category} x{self.count} ({runs}; first {self.first_seen}, "
            f"last {self.last_seen}){_resolution(self)}\n  {self.message}"
        )
        shown = self.trace[-TRACE_LINES_IN_TEXT:] if len(self.trace) > 1 else []
        lines = [head]
        if self.context:
            lines.append("  before: " + " | ".join(self.context[-3:]))
        if shown:
            omitted = len(self.trace) - len(shown)
            lines.extend(
                ["  trace" + (f" (last {len(shown)} of {len(self.trace)} lines):" if omitted else ":")]
            )
            lines.extend(f"    {line}" for line in shown)
        if self.similar:
            lines.append(
                "  also in: "
                + ", ".join(f"{other.name} (#{other.id} x{other.count})" for other in self.similar)
            )
        return "\n".join(lines)


def _resolution(error: ErrorRecord) -> str:
    if error.resolved:
        note = f": {error.resolution_note}" if error.resolution_note else ""
        return f" RESOLVED at {error.resolved_at}{note}"
    if error.reopened:
        return f" CAME BACK after being resolved at {error.last_resolved_at}"
    return ""


class ErrorList(msgspec.Struct, kw_only=True):
    """Errors, newest first; `next_after_id` continues the listing."""

    errors: list[ErrorRecord]
    has_more: bool
    next_after_id: int | None

    def summary(self) -> str:
        if not self.errors:
            return "No errors found."
        text = "\n".join(error.summary() for error in self.errors)
        if self.has_more:
            text += f"\n(more errors: continue with after_id={self.next_after_id})"
        return text


class HourCount(msgspec.Struct, kw_only=True):
    hour: str
    """The start of the hour, ISO 8601 UTC."""
    count: int


class ErrorOverview(msgspec.Struct, kw_only=True):
    """The unresolved errors, newest first, and how errors are spread and trending."""

    errors: list[ErrorRecord]
    unresolved: int
    by_category: dict[str, int]
    by_process: dict[str, int]
    """Occurrences of unresolved errors, by category and by process."""
    per_hour: list[HourCount]
    """Occurrences of every error in each of the last 24 hours, oldest first."""

    def summary(self) -> str:
        if not self.unresolved and not any(hour.count for hour in self.per_hour):
            return "No unresolved errors, and none in the last 24 hours."
        spread = ", ".join(f"{name} {count}" for name, count in self.by_category.items()) or "none"
        processes = ", ".join(f"{name} {count}" for name, count in self.by_process.items()) or "none"
        trend = " ".join(str(hour.count) for hour in self.per_hour)
        lines = [
            f"{self.unresolved} unresolved errors. By category: {spread}. By process: {processes}.",
            f"Occurrences per hour, last 24 h (oldest first): {trend}",
            *(error.summary() for error in self.errors),
        ]
        return "\n".join(lines)
