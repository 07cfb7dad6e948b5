"""The error requests of `pm_actors.api`: errors found in output, their overview, and marking
one resolved."""

from __future__ import annotations

from typing import Annotated

import msgspec

from pm_actors.error_results import ErrorCategory, ErrorList, ErrorOverview, ErrorRecord
from pm_actors.request_base import READ_ONLY, ErrorLimit, Request, TimeSpec, ToolAnnotations
from pm_actors.specs import NAME_PATTERN, NO_NUL


class GetErrors(Request, frozen=True, tag="get_errors"):
    """Errors found in processes' output, newest first: each folded stack trace or error line is
    one error, with its category (port_in_use, module_not_found, ...), how often it happened
    (repeats are counted, not listed), the runs it affected, its trace and the lines before it.
    Use it to answer "why did it crash?" in one call."""

    result_type = ErrorList
    annotations = READ_ONLY

    name: Annotated[
        Annotated[str, msgspec.Meta(pattern=NAME_PATTERN)] | None,
        msgspec.Meta(description="Only this process's errors; all processes by default."),
    ] = None
    category: Annotated[ErrorCategory | None, msgspec.Meta(description="Only this category.")] = None
    resolved: Annotated[
        bool | None,
        msgspec.Meta(description="true: only resolved ones; false: only unresolved; omitted: both."),
    ] = None
    since: Annotated[TimeSpec | None, msgspec.Meta(description="Only errors seen at or after this.")] = None
    limit: ErrorLimit = 10
    after_id: Annotated[
        Annotated[int, msgspec.Meta(ge=1)] | None,
        msgspec.Meta(description="Continue a listing after this error id (its next_after_id)."),
    ] = None


class GetLatestErrors(Request, frozen=True, tag="get_latest_errors"):
    """The unresolved errors, newest first, with counts by category and by process and the
    number of occurrences per hour over the last day: the overview before digging in."""

    result_type = ErrorOverview
    annotations = READ_ONLY

    limit: ErrorLimit = 10


class MarkErrorResolved(Request, frozen=True, tag="mark_error_resolved"):
    """Mark an error resolved, with a note of what fixed it. If the same error happens again
    it is reopened, and it says that it came back after being resolved."""

    result_type = ErrorRecord
    annotations = ToolAnnotations(read_only=False, destructive=False, idempotent=True)

    error_id: Annotated[int, msgspec.Meta(ge=1, description="The error's id, as get_errors shows it.")]
    note: Annotated[
        Annotated[str, msgspec.Meta(max_length=2000, pattern=NO_NUL)] | None,
        msgspec.Meta(description="What fixed it, for whoever sees it next."),
    ] = None
