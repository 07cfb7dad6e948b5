"""The incidents tables, written by the one writer: each error counted, its runs, its hours.

`incidents` holds one row per error per process (unique by fingerprint), with the evidence of
its latest occurrence, so the evidence survives when retention or `clear_logs` trims the lines
it came from. `incident_runs` says which runs it happened in (and so how many runs it
affected); `incident_hours` counts occurrences per hour for the trend. A run that crashed
points at the incident that explains it (`runs.incident_id`, `runs.crash_phrase`).

Every function here runs inside the writer's transaction.
"""

from __future__ import annotations

from typing import Final

import apsw
import msgspec

from pm_actors.actors.incidents.explain import Explanation, ShownError
from pm_actors.actors.incidents.fingerprint import fingerprint
from pm_actors.actors.incidents.tracker import Detected
from pm_actors.errors import NotFound

SCHEMA: Final = """
CREATE TABLE incidents(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    process_id INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    category TEXT NOT NULL,
    error_type TEXT,
    headline TEXT NOT NULL,
    stream INTEGER NOT NULL,
    evidence BLOB NOT NULL,
    first_line_id INTEGER,
    last_line_id INTEGER,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    count INTEGER NOT NULL,
    last_run_id INTEGER,
    resolved_at REAL,
    resolution_note TEXT,
    reopened INTEGER NOT NULL DEFAULT 0,
    last_resolved_at REAL,
    UNIQUE(process_id, fingerprint)
);
CREATE INDEX incidents_by_last_seen ON incidents(last_seen);
CREATE INDEX incidents_by_fingerprint ON incidents(fingerprint);
CREATE TABLE incident_runs(
    incident_id INTEGER NOT NULL,
    run_id INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY(incident_id, run_id)
) WITHOUT ROWID;
CREATE INDEX incident_runs_by_run ON incident_runs(run_id);
CREATE TABLE incident_hours(
    incident_id INTEGER NOT NULL,
    hour INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY(incident_id, hour)
) WITHOUT ROWID;
ALTER TABLE runs ADD COLUMN incident_id INTEGER;
ALTER TABLE runs ADD COLUMN crash_phrase TEXT;
-- 1 once every line of the run was classified and its end concluded (a crash linked).
ALTER TABLE runs ADD COLUMN errors_checked INTEGER;
UPDATE runs SET errors_checked = 1 WHERE ended_at IS NOT NULL;
-- Detection trails the stored lines like the full-text index: the writer classifies id ranges
-- above this mark when idle. Lines stored before this version are not looked at.
CREATE TABLE incident_progress(
    id INTEGER PRIMARY KEY CHECK (id = 1),
    classified_up_to INTEGER NOT NULL
);
INSERT INTO incident_progress(id, classified_up_to) SELECT 1, coalesce(max(id), 0) FROM logs;
"""
"""A migration step: AUTOINCREMENT, because an incident id is quoted to `mark_error_resolved`
and must never name another incident later."""

HOURS_KEPT: Final = 48
"""Hourly counts kept per incident: the trend shows the last 24 hours; a day more is slack."""
LAST_LINES_OF_A_QUIET_CRASH: Final = 10
"""Stderr lines kept as the evidence of a crash its output did not explain."""
ERROR_LINE_NEAR_THE_END: Final = 20
"""An error line explains a crash only among the run's last lines: a request that failed an
hour before the process died did not kill it. A stack trace explains it wherever it is."""


class Evidence(msgspec.Struct, frozen=True):
    """What an incident keeps of its latest occurrence."""

    text: list[str]
    frames: list[str]
    context: list[str]


def record(connection: apsw.Connection, detected: Detected) -> int:
    """Count one occurrence into its incident (a new one, or a repeat that raises its count,
    reopening it if it was resolved); returns the incident id."""
    evidence = msgspec.msgpack.encode(Evidence(detected.text, detected.frames, detected.context))
    incident_id = int(
        connection.execute(
            "INSERT INTO incidents(process_id, fingerprint, category, error_type, headline, stream, evidence,"
            " first_line_id, last_line_id, first_seen, last_seen, count, last_run_id)"
            " VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)"
            " ON CONFLICT(process_id, fingerprint) DO UPDATE SET count = count + 1,"
            " headline = excluded.headline, evidence = excluded.evidence,"
            " first_line_id = excluded.first_line_id, last_line_id = excluded.last_line_id,"
            " last_seen = max(last_seen, excluded.last_seen), last_run_id = excluded.last_run_id,"
            " reopened = reopened + (resolved_at IS NOT NULL),"
            " last_resolved_at = coalesce(resolved_at, last_resolved_at), resolved_at = NULL"
            " RETURNING id",
            (
                detected.process_id,
                detected.fingerprint,
                detected.category,
                detected.error_type,
                detected.headline,
                detected.stream,
                evidence,
                detected.first_line_id,
                detected.last_line_id,
                detected.ts,
                detected.ts,
                detected.run_id,
            ),
        ).get
    )
    _count_run_and_hour(connection, incident_id, detected.run_id, detected.ts)
    return incident_id


def _count_run_and_hour(connection: apsw.Connection, incident_id: int, run_id: int, ts: float) -> None:
    connection.execute(
        "INSERT INTO incident_runs(incident_id, run_id, count) VALUES(?, ?, 1)"
        " ON CONFLICT(incident_id, run_id) DO UPDATE SET count = count + 1",
        (incident_id, run_id),
    )
    hour = int(ts // 3600)
    connection.execute(
        "INSERT INTO incident_hours(incident_id, hour, count) VALUES(?, ?, 1)"
        " ON CONFLICT(incident_id, hour) DO UPDATE SET count = count + 1",
        (incident_id, hour),
    )
    connection.execute(
        "DELETE FROM incident_hours WHERE incident_id = ? AND hour < ?", (incident_id, hour - HOURS_KEPT)
    )


def classified_up_to(connection: apsw.Connection) -> int:
    """The id of the last line detection has looked at (lines of ended runs above it were
    looked at when their run ended)."""
    return int(connection.execute("SELECT classified_up_to FROM incident_progress").get)


def set_classified_up_to(connection: apsw.Connection, line_id: int) -> None:
    connection.execute("UPDATE incident_progress SET classified_up_to = ?", (line_id,))


def set_checked(connection: apsw.Connection, run_id: int) -> None:
    """The run's lines are classified and its end concluded: the chunks leave its lines out."""
    connection.execute("UPDATE runs SET errors_checked = 1 WHERE id = ?", (run_id,))


def shown_error(connection: apsw.Connection, run_id: int) -> tuple[int, ShownError] | None:
    """The error a run's output showed last: its last stack trace, else an error line among its
    last lines. Called when the run ends, so an incident's latest occurrence is this run's."""
    row = connection.execute(
        "SELECT i.id, i.category, i.headline FROM incident_runs r JOIN incidents i ON i.id = r.incident_id"
        " WHERE r.run_id = ?1 AND i.last_run_id = ?1 AND (i.category != 'error_line' OR ("
        "  SELECT count(*) FROM logs l WHERE l.process_id = i.process_id AND l.id > i.last_line_id"
        "  AND l.run_id = ?1) < ?2)"
        " ORDER BY i.category = 'error_line', i.last_line_id DESC LIMIT 1",
        (run_id, ERROR_LINE_NEAR_THE_END),
    ).fetchone()
    if row is None:
        return None
    incident_id, category, headline = row
    return int(incident_id), ShownError(category, headline)


def record_crash(
    connection: apsw.Connection,
    run_id: int,
    process_id: int,
    explanation: Explanation,
    incident_id: int | None,
    ended_at: float,
) -> int:
    """Link a crashed run to the incident that explains it, creating one (counted like any
    other, seen when the run ended) when the output showed none: `exit_nonzero`, `segfault`...
    with the last stderr lines."""
    if incident_id is None or not explanation.from_output:
        detected = Detected(
            process_id=process_id,
            run_id=run_id,
            stream=1,
            category=explanation.category,
            # The phrase without its varying numbers, unnormalised: exit code 1 and 3 are two errors.
            fingerprint=fingerprint(explanation.category, _phrase_key(explanation.phrase), "", None, "/"),
            error_type=None,
            headline=explanation.phrase,
            text=_last_stderr_lines(connection, process_id, run_id),
            frames=[],
            context=[],
            first_line_id=None,
            last_line_id=None,
            ts=ended_at,
        )
        incident_id = record(connection, detected)
    connection.execute(
        "UPDATE runs SET incident_id = ?, crash_phrase = ? WHERE id = ?",
        (incident_id, explanation.phrase, run_id),
    )
    return incident_id


def _phrase_key(phrase: str) -> str:
    """A crash phrase without its varying numbers: `exited with code 3` stays itself, but
    `killed by SIGKILL at 950 MB ...` does not become a new incident at every megabyte."""
    return phrase.split(" at ", 1)[0]


def _last_stderr_lines(connection: apsw.Connection, process_id: int, run_id: int) -> list[str]:
    """Through the process's index: a run with few stderr lines never scans the whole table."""
    rows = connection.execute(
        "SELECT line FROM logs WHERE process_id = ? AND run_id = ? AND stream = 1 ORDER BY id DESC LIMIT ?",
        (process_id, run_id, LAST_LINES_OF_A_QUIET_CRASH),
    )
    return [line for (line,) in rows][::-1]


def mark_resolved(connection: apsw.Connection, incident_id: int, note: str | None, now: float) -> int:
    """Resolve an incident; returns the id of its process."""
    row = connection.execute(
        "UPDATE incidents SET resolved_at = ?, resolution_note = ? WHERE id = ? RETURNING process_id",
        (now, note, incident_id),
    ).fetchone()
    if row is None:
        raise NotFound(f"no error with id {incident_id}; get_errors lists them with their ids")
    return int(row[0])


def delete_process(connection: apsw.Connection, process_id: int) -> None:
    """Forget a deleted process's incidents, with their runs and hours."""
    for table in ("incident_runs", "incident_hours"):
        connection.execute(
            f"DELETE FROM {table} WHERE incident_id IN (SELECT id FROM incidents WHERE process_id = ?)",
            (process_id,),
        )
    connection.execute("DELETE FROM incidents WHERE process_id = ?", (process_id,))
