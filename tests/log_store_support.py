"""Helpers for tests of the log store: a writer with a retention policy, the check that the
full-text index agrees with the rows it was built from, and what each search mode means,
decided by reading a stored line itself (the oracle of the property tests)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import apsw
import pykka

from pm_actors.actors.log_text import identifier_parts
from pm_actors.actors.log_writer import LogWriterActor
from pm_actors.actors.retention import RetentionPolicy
from pm_actors.actors.store import BUSY_TIMEOUT_MS
from pm_actors.request_base import SearchMode

PIECES = (
    "alpha",
    "beta",
    "ok",
    "42",
    "error",
    "Error:",
    "refused",
    "connection refused",
    "ConnectionRefusedError",
    "TypeError",
    "getHTTPResponse",
    "user_id",
    "os.path",
    "\x1b[31mred\x1b[0m",
    "10%\rdone",
    "ERROR",
)
"""What the lines of the property tests are made of: words, identifiers, escapes, redraws."""
QUERIES: tuple[tuple[str, SearchMode], ...] = (
    ("error", "words"),
    ("refused", "words"),
    ("alpha beta", "words"),
    ("connection refused", "phrase"),
    ("refused error", "phrase"),
    ("alpha OR red", "fts5"),
    ("Error", "substring"),
    ("d o", "substring"),
    (r"Err\w+", "regex"),
    (r"^\S+$", "regex"),
)
"""A query of each mode, against lines made of PIECES."""
KEEP_EVERYTHING = RetentionPolicy(max_age_s=100 * 365 * 86_400.0, max_chars_per_process=1 << 40)
"""No line is ever old or large enough to be trimmed."""


def start_writer(database: Path, retention: RetentionPolicy = KEEP_EVERYTHING) -> pykka.ActorRef[Any]:
    return LogWriterActor.start(database, retention)


def check_index_matches_rows(database: Path) -> None:
    """Raise unless the FTS5 index is sound and holds exactly the stored rows, each with the
    text it was indexed with. Every line must be indexed first (a Flush without a budget)."""
    connection = apsw.Connection(str(database))
    connection.set_busy_timeout(BUSY_TIMEOUT_MS)
    try:
        connection.execute("INSERT INTO logs_fts(logs_fts) VALUES('integrity-check')")
        # rank 1: compared with the content table, row by row (the plain check only looks inside).
        connection.execute("INSERT INTO logs_fts(logs_fts, rank) VALUES('integrity-check', 1)")
        assert connection.execute("PRAGMA integrity_check").get == "ok"
    finally:
        connection.close()


def words_of(text: str) -> list[str]:
    return [word.lower() for word in re.findall(r"[A-Za-z0-9]+", text)]


def holds_phrase(words: list[str], phrase: list[str]) -> bool:
    return any(words[start : start + len(phrase)] == phrase for start in range(len(words)))


def scan_matches(text: str, query: str, mode: SearchMode) -> bool:
    """What each mode means, decided by reading the stored line itself."""
    if mode == "substring":
        return query in text
    if mode == "regex":
        return re.search(query, text) is not None
    columns = (words_of(text), words_of(identifier_parts(text) or ""))
    if mode == "phrase":
        return any(holds_phrase(column, words_of(query)) for column in columns)
    if mode == "fts5":
        return any(scan_matches(text, word, "words") for word in query.split(" OR "))
    return all(any(word in column for column in columns) for word in words_of(query))
