"""The text of output lines: what is stored, what is indexed beside it, the level it carries.

Pure functions, used by the writer (cleaning, identifier parts) and the reader (levels, query
words). Lines are stored clean: ANSI escape sequences and carriage-return redraws are removed
once, when the writer receives them, so that what a tool returns, what the index holds and
what a substring or regex search scans are the same text.
"""

from __future__ import annotations

import re

ANSI_ESCAPE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, erasing
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: titles, hyperlinks (ended by BEL or ST)
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM, APC strings
    r"|\x1b[ -/]*[0-~]"  # two-character escapes (charset selection, keypad modes)
    r"|\x1b"  # a lone ESC
)
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
"""Control characters other than tab, left after the escapes: they only garble a display."""

TOKEN = re.compile(r"[^\W_]+")
"""A token as FTS5's unicode61 tokenizer sees it: a run of letters and digits."""
CASE_CHANGE = re.compile(r"[a-z][A-Z]|[A-Z]{2}[a-z]")
"""A token that changes case inside (fooBar, HTTPServer) is an identifier worth splitting."""
PART = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+|[^\W\d_A-Za-z]+")
"""One part of an identifier: an acronym, a capitalised or lower-case word, a number."""

LEVELS = ("trace", "debug", "info", "warning", "error", "fatal")
"""Severities from the least to the most severe; a level filter keeps its level and above."""
_LEVEL_OF_WORD = {
    "trace": 0,
    "debug": 1,
    "info": 2,
    "notice": 2,
    "warn": 3,
    "warning": 3,
    "error": 4,
    "err": 4,
    "fatal": 5,
    "critical": 5,
    "crit": 5,
    "panic": 5,
}
_LEVEL_WORDS = "|".join(sorted(_LEVEL_OF_WORD, key=len, reverse=True))
_LEVEL = re.compile(
    rf"\b(?P<upper>{_LEVEL_WORDS.upper()})\b"  # INFO, ERROR, WARN as a word of their own
    rf"|(?i:\b(?:level|lvl|severity)\W{{0,4}}(?P<keyed>{_LEVEL_WORDS})\b)"  # level=error, "level": "warn"
    rf"|^\W{{0,2}}(?i:(?P<leading>{_LEVEL_WORDS}))\b"  # error: ..., [warning] ...
    r"|^[\w.]*(?P<raised>Error|Exception|Warning):"  # ValueError: ..., DeprecationWarning: ...
)
LEVEL_PREFIX_CHARS = 160
"""Where a level is looked for: log formats put it near the start, and a message further on
that merely mentions "error" must not make an info line an error line."""
_RAISED_LEVEL = {"Error": 4, "Exception": 4, "Warning": 3}


def clean_line(text: str) -> str:
    """`text` without ANSI escape sequences and control characters; of carriage-return redraws
    (a progress bar) only the last one is kept, as a terminal would show it."""
    if text.isprintable():  # the common case, checked in C: nothing to remove
        return text
    text = ANSI_ESCAPE.sub("", text)
    if "\r" in text:
        redraws = [segment for segment in text.split("\r") if segment]
        text = redraws[-1] if redraws else ""
    return CONTROL.sub("", text)


def identifier_parts(text: str) -> str | None:
    """The parts of every identifier in `text` that changes case inside, space-separated
    (`ConnectionRefusedError` -> `Connection Refused Error`), or None when there is none.

    Indexed beside the line, so that a search for a word finds it inside an identifier;
    unicode61 already splits snake_case, dotted.names and paths at their punctuation."""
    if not CASE_CHANGE.search(text):
        return None
    parts = [
        part for token in TOKEN.findall(text) if CASE_CHANGE.search(token) for part in PART.findall(token)
    ]
    return " ".join(parts) or None


def case_parts(word: str) -> list[str]:
    """The parts of one identifier (`getHTTPResponse` -> get, HTTP, Response); itself if none."""
    return PART.findall(word) if CASE_CHANGE.search(word) else [word]


def line_level(text: str) -> int | None:
    """The severity a line carries (an index into LEVELS), or None when it carries none."""
    match = _LEVEL.search(text[:LEVEL_PREFIX_CHARS])
    if match is None:
        return None
    raised = match["raised"]
    if raised is not None:
        return _RAISED_LEVEL[raised]
    word = match["upper"] or match["keyed"] or match["leading"]
    return _LEVEL_OF_WORD[word.lower()]


def level_words(minimum: int) -> list[str]:
    """Words one of which every line at `minimum` severity or above contains (as a token, or
    as a part of an identifier): an index query that narrows a level filter's candidates."""
    words = [word for word, level in _LEVEL_OF_WORD.items() if level >= minimum]
    words += [word.lower() for word, level in _RAISED_LEVEL.items() if level >= minimum]
    return sorted(set(words))
