"""The one table that says which category an error belongs to.

Each rule is a category and the phrases that name it, looked for (lowercase) in an error's
headline and text (`categorize`); first match wins, so the specific rules come before the
general ones. A reader adds a rule by adding a row here and a case to
`tests/actors/incidents/test_rules.py`.

`mentions_error` is the cheap first look at every stored line: only a line it passes (or a line
inside a stack trace being folded) is looked at further, so classifying a million ordinary
lines costs one search each.
"""

from __future__ import annotations

import re
from typing import Final

from pm_actors.error_results import ErrorCategory as Category

Rule = tuple[Category, re.Pattern[str]]

RULE_PHRASES: Final[tuple[tuple[Category, tuple[str, ...]], ...]] = (
    (
        "port_in_use",
        ("eaddrinuse", "address already in use", "port is already allocated", "port is already in use"),
    ),
    (
        "module_not_found",
        (
            "modulenotfounderror",
            "no module named",
            "importerror",
            "cannot find module",
            "err_module_not_found",
            "classnotfoundexception",
            "noclassdeffounderror",
            "cannot find package",
            "unresolved import",
        ),
    ),
    ("syntax_error", ("syntaxerror", "indentationerror", "taberror", "syntax error", "parseerror")),
    (
        "out_of_memory",
        (
            "memoryerror",
            "heap out of memory",
            "outofmemoryerror",
            "cannot allocate memory",
            "enomem",
            "out of memory",
            "memory allocation of",
        ),
    ),
    ("segfault", ("segmentation fault", "sigsegv", "segmentation violation", "core dumped")),
    ("connection_refused", ("econnrefused", "connection refused", "connectionrefusederror")),
    (
        "permission_denied",
        (
            "permissionerror",
            "eacces",
            "eperm",
            "permission denied",
            "accessdeniedexception",
            "operation not permitted",
        ),
    ),
    (
        "file_not_found",
        (
            "filenotfounderror",
            "enoent",
            "no such file or directory",
            "nosuchfileexception",
            "filenotfoundexception",
        ),
    ),
    ("timeout", ("timeouterror", "etimedout", "timed out", "deadline exceeded", "timeoutexception")),
)
"""Each category and the phrases (lowercase) that name it, the most telling first: a missing
module that surfaces as an ImportError is `module_not_found`; an `OSError` text naming ENOENT
is `file_not_found`."""

GENERIC_WORDS: Final = (
    *("error", "exception", "fatal", "panic", "critical", "severe", "emerg", "alert"),
    *("traceback", "killed", "uncaught", "unhandled"),
)
"""Words that mark a line as worth a second look even when no rule names it: the levels
`LOG_LEVEL_ERROR` looks for, and words that only failures use."""


def _any_of(phrases: tuple[str, ...]) -> re.Pattern[str]:
    # Plain lowercase literals searched in lowercased text: some 20x faster than the same
    # alternation with IGNORECASE, which matters on every stored line.
    return re.compile("|".join(re.escape(phrase) for phrase in phrases))


RULES: Final[tuple[Rule, ...]] = tuple((category, _any_of(phrases)) for category, phrases in RULE_PHRASES)
ERROR_WORDS: Final = _any_of((*GENERIC_WORDS, *(phrase for _, phrases in RULE_PHRASES for phrase in phrases)))
"""The first, cheap look at every line (lowercased): a line that holds none of these is no error."""


def mentions_error(text: str) -> bool:
    """Whether a line may report an error: the cheap look that spares every ordinary line."""
    return ERROR_WORDS.search(text.lower()) is not None


LOG_LEVEL_ERROR: Final = re.compile(
    r"^\W{0,3}(\S+\s+){0,3}?\[?(ERROR|FATAL|CRITICAL|SEVERE|EMERG|ALERT|PANIC)\]?[\s:|]"
    r"|^\W{0,3}(?i:\[(error|fatal|critical)\]|(error|fatal)(\[\w+\])?:)"
    r"|(?i:\blevel=\"?(error|fatal|critical)\b|\"level\"\s*:\s*\"(error|fatal|critical)\")"
)
"""A log line at error level: `ERROR ...`, `2024-01-01 10:00:00 ERROR ...`, `[error] ...`,
`Error: ...`, `fatal: ...`, `level=error`, `"level": "error"`. The level word in capitals within
the first few words, so that a message that only mentions an error later is not one."""


def categorize(text: str, is_trace: bool) -> Category | None:
    """The category of an error whose headline and text are `text`: the first rule that
    matches; else `unhandled_exception` for a stack trace; else None (not an error by itself)."""
    lowered = text.lower()
    for category, pattern in RULES:
        if pattern.search(lowered):
            return category
    return "unhandled_exception" if is_trace else None


def is_error_line(text: str) -> bool:
    """Whether a line outside any stack trace reports an error by itself: a specific cause
    (an address in use, a refused connection, ...) or a log line at error level."""
    if not mentions_error(text):
        return False
    return LOG_LEVEL_ERROR.search(text) is not None or categorize(text, is_trace=False) is not None
