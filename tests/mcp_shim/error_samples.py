"""Realistic results of the error tools, for the shim's and the results' tests (see `samples`)."""

from __future__ import annotations

from typing import Any

import msgspec

from pm_actors.error_results import ErrorList, ErrorOverview, ErrorRecord, SimilarError

FLASK = ErrorRecord(
    id=3,
    name="web",
    category="module_not_found",
    message="ModuleNotFoundError: No module named 'flask'",
    error_type="ModuleNotFoundError",
    fingerprint="9f2c4e1a7b3d5f60",
    count=5,
    first_seen="2023-11-14T22:13:20.250Z",
    last_seen="2023-11-14T22:14:02.500Z",
    runs_affected=5,
    last_run_id=12,
    stream="stderr",
    first_line_id=140,
    last_line_id=143,
    trace=[
        "Traceback (most recent call last):",
        '  File "/srv/app/main.py", line 3, in <module>',
        "    import flask",
        "ModuleNotFoundError: No module named 'flask'",
    ],
    frames=['File "/srv/app/main.py", line 3, in <module>'],
    context=["loading settings from /srv/app/.env", "starting web on :8000"],
    resolved=False,
    resolved_at=None,
    resolution_note="pip install flask in the venv",
    reopened=1,
    last_resolved_at="2023-11-14T22:13:40.000Z",
    similar=[SimilarError(id=7, name="worker", count=2)],
)

QUIET = ErrorRecord(
    id=8,
    name="job",
    category="exit_nonzero",
    message="exited on its own with code 3",
    error_type=None,
    fingerprint="04d1c0ffee5eed00",
    count=1,
    first_seen="2023-11-14T22:15:00.000Z",
    last_seen="2023-11-14T22:15:00.000Z",
    runs_affected=1,
    last_run_id=20,
    stream="stderr",
    first_line_id=None,
    last_line_id=None,
    trace=["flushing caches", "shutting down"],
    frames=[],
    context=[],
    resolved=True,
    resolved_at="2023-11-14T22:16:00.000Z",
    resolution_note=None,
    reopened=0,
    last_resolved_at=None,
    similar=[],
)

GO_PANIC = msgspec.structs.replace(
    FLASK,
    id=9,
    name="api",
    category="unhandled_exception",
    message="panic: runtime error: index out of range [5] with length 3",
    error_type="panic",
    trace=["panic: runtime error: index out of range [5] with length 3", "", "goroutine 1 [running]:"],
    frames=["main.lookup(...)", "/src/app/main.go:8"],
    context=[],
    resolution_note=None,
    reopened=0,
    last_resolved_at=None,
    similar=[],
)

ERROR_SAMPLES: dict[type[msgspec.Struct], list[Any]] = {
    ErrorRecord: [FLASK, QUIET, GO_PANIC],
    ErrorList: [
        ErrorList(errors=[FLASK, QUIET], has_more=True, next_after_id=8, unchecked_lines=1200),
        ErrorList(errors=[], has_more=False, next_after_id=None),
    ],
    ErrorOverview: [
        ErrorOverview(
            errors=[FLASK, GO_PANIC],
            unresolved=2,
            by_category={"module_not_found": 5, "unhandled_exception": 5},
            by_process={"web": 5, "api": 5},
            trend_since="2023-11-13T23:00:00.000Z",
            per_hour=[0] * 22 + [4, 6],
        ),
        ErrorOverview(
            errors=[],
            unresolved=0,
            by_category={},
            by_process={},
            trend_since="2023-11-13T23:00:00.000Z",
            per_hour=[0] * 24,
            unchecked_lines=3,
        ),
    ],
}
"""Per error result type, results a real backend could return."""
