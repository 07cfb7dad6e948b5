"""Reading incidents: get_errors, get_latest_errors, and one error by id.

Plain SQL over a read-only connection (the LogReaderActor's), testable without actors.
"""

from __future__ import annotations

import time
from typing import Any, Final, cast

import apsw
import msgspec

from pm_actors.actors.incidents.store import Evidence
from pm_actors.actors.messages import STREAM_NAMES
from pm_actors.error_results import (
    ErrorCategory,
    ErrorList,
    ErrorOverview,
    ErrorRecord,
    SimilarError,
)
from pm_actors.errors import NotFound
from pm_actors.results import iso_utc

HOURS_IN_TREND: Final = 24
SIMILAR_SHOWN: Final = 5
"""Other processes with the same error, shown per error: enough to see it is shared."""

_COLUMNS: Final = (
    "i.id, coalesce(p.name, '#' || i.process_id), i.category, i.headline, i.error_type, i.fingerprint,"
    " i.count, i.first_seen, i.last_seen, (SELECT count(*) FROM incident_runs r WHERE r.incident_id = i.id),"
    " i.last_run_id, i.stream, i.first_line_id, i.last_line_id, i.evidence, i.resolved_at,"
    " i.resolution_note, i.reopened, i.last_resolved_at, i.process_id"
)
_FROM: Final = "FROM incidents i LEFT JOIN processes p ON p.id = i.process_id"


class ErrorQueries:
    def __init__(self, connection: apsw.Connection) -> None:
        self._connection = connection

    def get_errors(
        self,
        process_id: int | None = None,
        category: ErrorCategory | None = None,
        resolved: bool | None = None,
        since: float | None = None,
        limit: int = 20,
        after_id: int | None = None,
    ) -> ErrorList:
        """Errors newest first (by their latest occurrence), filtered; `after_id` continues."""
        conditions, arguments = _filters(process_id, category, resolved, since)
        if after_id is not None:
            cursor = self._connection.execute(
                "SELECT last_seen FROM incidents WHERE id = ?", (after_id,)
            ).fetchone()
            if cursor is None:
                raise NotFound(f"no error with id {after_id} to continue after; start the listing again")
            conditions.append("(i.last_seen < ? OR (i.last_seen = ? AND i.id < ?))")
            arguments.extend([cursor[0], cursor[0], after_id])
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        sql = f"SELECT {_COLUMNS} {_FROM}{where} ORDER BY i.last_seen DESC, i.id DESC LIMIT ?"
        rows = list(self._connection.execute(sql, (*arguments, limit + 1)))
        errors = [self._record(row) for row in rows[:limit]]
        has_more = len(rows) > limit
        return ErrorList(
            errors=errors,
            has_more=has_more,
            next_after_id=errors[-1].id if has_more else None,
            unchecked_lines=self._unchecked_lines(),
        )

    def one(self, incident_id: int) -> ErrorRecord:
        row = self._connection.execute(f"SELECT {_COLUMNS} {_FROM} WHERE i.id = ?", (incident_id,)).fetchone()
        if row is None:
            raise NotFound(f"no error with id {incident_id}; get_errors lists them with their ids")
        return self._record(row)

    def latest(self, limit: int = 10, now: float | None = None) -> ErrorOverview:
        """The unresolved errors with the spread by category and process and the hourly trend."""
        first_hour = int((now if now is not None else time.time()) // 3600) - HOURS_IN_TREND + 1
        with self._connection:  # one read transaction: the counts agree with the list
            listing = self.get_errors(resolved=False, limit=limit)
            by_category = self._counts("i.category")
            by_process = self._counts("coalesce(p.name, '#' || i.process_id)")
            unresolved = int(
                self._connection.execute("SELECT count(*) FROM incidents WHERE resolved_at IS NULL").get
            )
            per_hour = self._per_hour(first_hour)
        return ErrorOverview(
            errors=listing.errors,
            unresolved=unresolved,
            by_category=by_category,
            by_process=by_process,
            trend_since=cast(str, iso_utc(first_hour * 3600.0)),
            per_hour=per_hour,
            unchecked_lines=listing.unchecked_lines,
        )

    def _counts(self, key: str) -> dict[str, int]:
        rows = self._connection.execute(
            f"SELECT {key}, sum(i.count) {_FROM} WHERE i.resolved_at IS NULL GROUP BY 1 ORDER BY 2 DESC, 1"
        )
        return {str(name): int(count) for name, count in rows}

    def _per_hour(self, first_hour: int) -> list[int]:
        rows = self._connection.execute(
            "SELECT hour, sum(count) FROM incident_hours WHERE hour >= ? GROUP BY hour", (first_hour,)
        )
        counts = {int(hour): int(count) for hour, count in rows}
        return [counts.get(hour, 0) for hour in range(first_hour, first_hour + HOURS_IN_TREND)]

    def _unchecked_lines(self) -> int:
        """Lines above the detection mark of runs not yet concluded (the others were classified
        when their run ended)."""
        return int(
            self._connection.execute(
                "SELECT count(*) FROM logs l LEFT JOIN runs r ON r.id = l.run_id"
                " WHERE l.id > (SELECT classified_up_to FROM incident_progress) AND r.errors_checked IS NULL"
            ).get
        )

    def _record(self, row: tuple[Any, ...]) -> ErrorRecord:
        (incident_id, name, category, headline, error_type, fingerprint, count, first_seen, last_seen, runs,
         last_run_id, stream, first_line_id, last_line_id, evidence_blob, resolved_at, note, reopened,
         last_resolved_at, process_id) = row  # fmt: skip
        evidence = msgspec.msgpack.decode(evidence_blob, type=Evidence)
        return ErrorRecord(
            id=incident_id,
            name=name,
            category=category,
            message=headline,
            error_type=error_type,
            fingerprint=fingerprint,
            count=count,
            first_seen=cast(str, iso_utc(first_seen)),
            last_seen=cast(str, iso_utc(last_seen)),
            runs_affected=runs,
            last_run_id=last_run_id,
            stream=STREAM_NAMES[stream],
            first_line_id=first_line_id,
            last_line_id=last_line_id,
            trace=evidence.text,
            frames=evidence.frames,
            context=evidence.context,
            resolved=resolved_at is not None,
            resolved_at=iso_utc(resolved_at),
            resolution_note=note,
            reopened=reopened,
            last_resolved_at=iso_utc(last_resolved_at),
            similar=self._similar(fingerprint, process_id),
        )

    def _similar(self, fingerprint: str, process_id: int) -> list[SimilarError]:
        rows = self._connection.execute(
            "SELECT i.id, coalesce(p.name, '#' || i.process_id), i.count"
            f" {_FROM} WHERE i.fingerprint = ? AND i.process_id != ? ORDER BY i.last_seen DESC LIMIT ?",
            (fingerprint, process_id, SIMILAR_SHOWN),
        )
        return [SimilarError(id=other_id, name=name, count=count) for other_id, name, count in rows]


def _filters(
    process_id: int | None, category: ErrorCategory | None, resolved: bool | None, since: float | None
) -> tuple[list[str], list[Any]]:
    conditions: list[str] = []
    arguments: list[Any] = []
    if process_id is not None:
        conditions.append("i.process_id = ?")
        arguments.append(process_id)
    if category is not None:
        conditions.append("i.category = ?")
        arguments.append(category)
    if resolved is not None:
        conditions.append("i.resolved_at IS NOT NULL" if resolved else "i.resolved_at IS NULL")
    if since is not None:
        conditions.append("i.last_seen >= ?")
        arguments.append(since)
    return conditions, arguments
