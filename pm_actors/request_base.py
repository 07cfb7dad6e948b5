"""What every request of `pm_actors.api` is built from: the base class, its tool hints, and
the bounded types its fields share (limits, time specs, search modes)."""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal

import msgspec

from pm_actors.log_results import Stream
from pm_actors.specs import ENV_NAME, NO_NUL

MAX_LIMIT = 10_000
DEFAULT_LIMIT = 100
DEFAULT_MAX_CHARS = 16_000
"""Characters of line text an answer carries unless asked for more: about 4,000 tokens, which a
model can afford on every call."""
MAX_CHARS = 1_000_000
"""The hard cap of `max_chars` (about 1 MB of text): no answer is ever larger."""
DEFAULT_MAX_LINE_CHARS = 2_000
"""Longer lines are cut to this unless asked otherwise: one minified bundle or base64 blob
must not take the whole budget."""
MAX_CONTEXT_LINES = 20
MAX_QUERY_CHARS = 1000
"""A search query: a line, or a few; a longer one is a paste, not a search."""
MAX_QUERY_WORDS = 64
"""Words a search may require: each is one more FTS5 term to intersect (cost grows with them)."""

PATTERN_MEANINGS = {
    NO_NUL: "no NUL byte",
    ENV_NAME: "a variable's name is not empty and holds no '=' or NUL byte",
}
"""What each pattern of the schema means, for an error that quotes the regex."""


def pattern_meaning(message: str) -> str:
    """ " (that is: ...)" for a validation message that quotes one of our patterns, else ""."""
    for pattern, meaning in PATTERN_MEANINGS.items():
        if repr(pattern) in message or pattern in message:
            return f" (that is: {meaning})"
    return ""


_AT_PATH = re.compile(r"^(?P<problem>.*?) - at `\$(?P<path>[^`]*)`$", re.DOTALL)
ValidationKind = Literal["missing", "unknown", "invalid", "other"]
_FIELD_PROBLEMS: dict[ValidationKind, re.Pattern[str]] = {
    "missing": re.compile(r"^Object missing required field `(?P<field>[^`]+)`$"),
    "unknown": re.compile(r"^Object contains unknown field `(?P<field>[^`]+)`$"),
}


def split_validation_error(message: str) -> tuple[ValidationKind, str, str]:
    """A msgspec validation message as (kind, where, problem): a `missing` or `unknown` field
    (where: its name), an `invalid` value (where: its path, as `.backoff.initial_s`; problem:
    `Expected int`), or `other` (the message as it is)."""
    for kind, pattern in _FIELD_PROBLEMS.items():
        if match := pattern.match(message):
            return kind, match["field"], message
    if match := _AT_PATH.match(message):
        return "invalid", match["path"], match["problem"]
    return "other", "", message


Limit = Annotated[
    int,
    msgspec.Meta(ge=1, le=MAX_LIMIT, description=f"How many items at most (1 to {MAX_LIMIT})."),
]
ErrorLimit = Annotated[int, msgspec.Meta(ge=1, le=1000, description="How many errors at most (1 to 1000).")]
SignalName = Literal[
    "SIGKILL", "SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGSTOP", "SIGCONT"
]
SearchMode = Literal["words", "phrase", "fts5", "substring", "regex"]
Level = Literal["trace", "debug", "info", "warning", "error", "fatal"]
"""Severities from the least to the most severe."""
MaxChars = Annotated[
    int,
    msgspec.Meta(
        ge=1_000,
        le=MAX_CHARS,
        description=f"Characters of line text this answer may carry (default {DEFAULT_MAX_CHARS:,}, at most "
        f"{MAX_CHARS:,}); past it the answer ends early and says how to continue.",
    ),
]
MaxLineChars = Annotated[
    int,
    msgspec.Meta(
        ge=100,
        le=MAX_CHARS,
        description=f"Longer lines are cut to this many characters (default {DEFAULT_MAX_LINE_CHARS:,}), "
        "marked with how much was cut and how to read the whole line.",
    ),
]
StreamFilter = Annotated[Stream | None, msgspec.Meta(description="Only this stream; all by default.")]
TimeSpec = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=64,
        description="An ISO 8601 time (2024-05-01T12:00:00Z; UTC if no offset) or a duration back "
        "from now (30s, 15m, 2h, 7d, 1h30m).",
    ),
]


class ToolAnnotations(msgspec.Struct, frozen=True):
    """MCP tool hints: what a careful client may assume before calling."""

    read_only: bool
    destructive: bool
    idempotent: bool


READ_ONLY = ToolAnnotations(read_only=True, destructive=False, idempotent=True)


class Request(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="tool"):
    """Base of every request; the tag is the MCP tool name."""

    result_type: ClassVar[type[msgspec.Struct]]
    annotations: ClassVar[ToolAnnotations]
