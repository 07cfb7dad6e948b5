"""Regular expressions that clients send (search_logs in regex mode, wait_for's log line, a
group member's ready line, `pm-actors logs --grep`): compiled once, and refused when they
repeat a repetition.

A pattern like `(a+)+$` or `(\\w+\\s?)*:` backtracks through every way of splitting a line
that almost matches: exponential time in the line's length, inside one call of `re` that no
time budget can cut short, holding the thread that runs it (a search lane, the WaitActor).
Such a pattern never needs its outer repetition to backtrack, so it is refused with how to
write it instead: a possessive repetition (`(?:a+)++`) or an atomic group (`(?>a+)+`), which
Python runs without backtracking into them.
"""

from __future__ import annotations

import re

# The parse tree `re` itself compiles from (private, and in these modules since Python 3.11).
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

from pm_actors.errors import InvalidArgument

_BACKTRACKING_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT)


def compile_client_regex(pattern: str, argument: str) -> re.Pattern[str]:
    """`pattern` compiled; InvalidArgument about `argument` if it is not a regular expression
    or repeats a repetition that can backtrack."""
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        raise InvalidArgument(f"invalid argument `{argument}`: not a regular expression ({error})") from None
    if _repeats_a_repetition(sre_parse.parse(pattern), inside=False):
        raise InvalidArgument(
            f"invalid argument `{argument}`: {pattern!r} repeats a repetition (as in `(a+)+`), which "
            "can take exponential time on a line that almost matches. Drop the outer repetition, "
            "or make it possessive (`(?:a+)++`) or the inner one atomic (`(?>a+)+`)"
        )
    return compiled


def _repeats_a_repetition(items: Any, inside: bool) -> bool:
    """Whether an unbounded backtracking repetition lies inside another (`inside`: within one)."""
    for op, value in items:
        if op in _BACKTRACKING_REPEATS:
            _, most, body = value
            unbounded = most == sre.MAXREPEAT
            if (unbounded and inside) or _repeats_a_repetition(body, inside or unbounded):
                return True
        elif op is sre.POSSESSIVE_REPEAT or op is sre.ATOMIC_GROUP:
            continue  # never backtracked into: what is inside cannot multiply the ways
        elif any(_repeats_a_repetition(part, inside) for part in _parts(op, value)):
            return True
    return False


def _parts(op: Any, value: Any) -> list[Any]:
    """The sub-patterns of a node that holds some (a group, an alternation, a lookaround)."""
    if op is sre.SUBPATTERN:
        return [value[3]]
    if op is sre.BRANCH:
        return list(value[1])
    if op in (sre.ASSERT, sre.ASSERT_NOT):
        return [value[1]]
    if op is sre.GROUPREF_EXISTS:
        return [part for part in value[1:] if part is not None]
    return []
