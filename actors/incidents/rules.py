"""The one table that says which category an error belongs to.

Each rule is a category and a regular expression tried on an error's headline and text
(`categorize`), first match wins, so the specific rules come before the general ones. A
reader adds a rule by adding a row here and a case to `tests/actors/incidents/test_rules.py`.

`ERROR_LINE` is the cheap first look at every stored line: only a line it matches (or a line
inside a stack trace being folded) is looked at further, so classifying a million ordinary
lines costs one search each.
"""

from __future__ import annotations

import re
from typing import Final

from pm_actors.error_results import ErrorCategory as Category

Rule = tuple[Category, re.Pattern[str]]


def _rule(category: Category, pattern: str) -> Rule:
    return category, re.compile(pattern, re.IGNORECASE)


RULES: Final[tuple[Rule, ...]] = (
    _rule("port_in_use", r"EADDRINUSE|address already in use|port is already (allocated|in use)"),
    _rule(
        "module_not_found",
        r"ModuleNotFoundError|No module named|ImportError|Cannot find module|ERR_MODULE_NOT_FOUND"
        r"|ClassNotFoundException|NoClassDefFoundError|cannot find package|unresolved import",
    ),
    _rule("syntax_error", r"SyntaxError|IndentationError|TabError|\bsyntax error\b|ParseError"),
    _rule(
        "out_of_memory",
        r"MemoryError|heap out of memory|OutOfMemoryError|Cannot allocate memory|\bENOMEM\b"
        r"|\bout of memory\b|memory allocation of \d+ bytes failed",
    ),
    _rule("segfault", r"Segmentation fault|SIGSEGV|segmentation violation|core dumped"),
    _rule("connection_refused", r"ECONNREFUSED|Connection refused|ConnectionRefusedError"),
    _rule(
        "permission_denied",
        r"PermissionError|\bEACCES\b|\bEPERM\b|Permission denied|AccessDeniedException"
        r"|Operation not permitted",
    ),
    _rule(
        "file_not_found",
        r"FileNotFoundError|\bENOENT\b|No such file or directory|NoSuchFileException|FileNotFoundException",
    ),
    _rule(
        "timeout",
        r"TimeoutError|\bETIMEDOUT\b|\btimed out\b|deadline exceeded|TimeoutException|\bTimeout\b",
    ),
)
"""Specific causes, most telling first: a missing module that surfaces as a SyntaxError-free
ImportError is `module_not_found`; an `OSError` text naming ENOENT is `file_not_found`."""

GENERIC_WORDS: Final = r"error|exception|fatal|panic|critical|traceback|killed|uncaught|unhandled"
"""Words that mark a line as worth a second look even when no specific rule names it."""

ERROR_LINE: Final = re.compile(
    "|".join([GENERIC_WORDS, *(pattern.pattern for _, pattern in RULES)]), re.IGNORECASE
)
"""The first, cheap look at every line: every rule's pattern and the generic words, in one
search. A line it does not match is no error."""

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
    for category, pattern in RULES:
        if pattern.search(text):
            return category
    return "unhandled_exception" if is_trace else None


def is_error_line(text: str) -> bool:
    """Whether a line outside any stack trace reports an error by itself: a specific cause
    (an address in use, a refused connection, ...) or a log line at error level."""
    if not ERROR_LINE.search(text):
        return False
    return LOG_LEVEL_ERROR.search(text) is not None or any(pattern.search(text) for _, pattern in RULES)
