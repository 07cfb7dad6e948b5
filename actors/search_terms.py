"""What a search looks for: the FTS5 expression of a query, and where in a line it matched.

Pure functions beside the reader. The index holds each line and, in a second column, the
parts of its identifiers (`log_text.identifier_parts`), so a words search for `Error` matches
the token `error` in either column: in `Error: x`, and in `TypeError` through its parts.
"""

from __future__ import annotations

import re

from pm_actors.actors.log_text import case_parts, level_words
from pm_actors.errors import InvalidArgument
from pm_actors.request_base import MAX_QUERY_WORDS, SearchMode

WORD = re.compile(r"\w+")
"""A word as a search sees it. Quoted, FTS5's unicode61 tokenizer reads it as the same word (or,
for one with an underscore, which it splits on, as the phrase of its parts)."""

ASCII_SEPARATORS = re.compile(r"[\x00-/:-@\[-`{-\x7f]+")
"""ASCII characters other than letters and digits: token separators for unicode61."""
ASCII_ALNUM = re.compile(r"[A-Za-z0-9]")


def fts5_query(query: str, mode: SearchMode) -> str:
    """The FTS5 MATCH expression for a query in `words`, `phrase` or raw `fts5` mode."""
    words = WORD.findall(query)
    if len(words) > MAX_QUERY_WORDS:
        raise InvalidArgument(
            f"the query has {len(words)} words, more than the {MAX_QUERY_WORDS} a search takes "
            "(each one is another term to intersect): keep the most specific ones"
        )
    if mode == "fts5":
        return query
    if not words:
        raise InvalidArgument(
            f"the query {query!r} has no words (letters or digits) for mode {mode!r}:"
            ' use mode "substring" to find punctuation or other exact text'
        )
    if mode == "phrase":
        return _quoted(query)
    return " ".join(_word_term(word) for word in words)  # juxtaposed terms: all must occur


def substring_prefilter(query: str) -> str | None:
    """An FTS5 expression that every line containing `query` matches, or None if it has none.

    A run of the query between two ASCII separators (`id=1234 ` holds `1234`) stands whole, as
    a phrase of tokens, in any line that contains the query, whatever surrounds it there (ASCII
    characters other than letters and digits separate tokens for unicode61); the last run,
    after a separator (`d=1234` ends in `1234`), begins a token there: a prefix query. The
    first run (`d`) may end a longer token and says nothing. The index then narrows a scan to
    the lines holding those phrases; the exact, case-sensitive check stays the reader's."""
    runs = ASCII_SEPARATORS.split(query)
    phrases = [f"line : {_quoted(run)}" for run in runs[1:-1] if ASCII_ALNUM.search(run)]
    if len(runs) > 1 and ASCII_ALNUM.search(runs[-1]):
        phrases.append(f"line : {_quoted(runs[-1])} *")
    return " AND ".join(phrases) or None


def with_level(expression: str, minimum: int | None) -> str:
    """`expression` narrowed to lines holding a level word of `minimum` severity or above: a
    necessary condition the index checks fast; the reader then checks the level itself."""
    if minimum is None:
        return expression
    words = " OR ".join(_quoted(word) for word in level_words(minimum))
    return f"({expression}) AND ({words})"


def _word_term(word: str) -> str:
    """A word, or for an identifier that changes case its parts as a phrase too, so that
    `ConnectionRefused` finds `ConnectionRefusedError` (whose parts are indexed)."""
    parts = case_parts(word)
    if len(parts) == 1:
        return _quoted(word)
    return f"({_quoted(word)} OR {_quoted(' '.join(parts))})"


def _quoted(text: str) -> str:
    """An FTS5 string: no operator or special character inside it has any effect."""
    return '"' + text.replace('"', '""') + '"'


def focus(text: str, query: str, mode: SearchMode, pattern: re.Pattern[str] | None) -> int:
    """Where in `text` the query matched (0 if it cannot tell), so that a long line is cut
    around the match rather than at its start."""
    if pattern is not None:
        found = pattern.search(text)
        return found.start() if found else 0
    if mode == "substring":
        return max(0, text.find(query))
    lowered = text.lower()
    for word in WORD.findall(query):
        for part in case_parts(word):
            position = lowered.find(part.lower())
            if position >= 0:
                return position
    return 0
