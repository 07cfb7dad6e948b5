"""Regular expressions from clients: compiled as Python's `re` does, and refused when one
repetition repeats another (exponential backtracking no time budget can cut short)."""

from __future__ import annotations

import pytest

from pm_actors.api import WaitFor
from pm_actors.client_regex import compile_client_regex
from pm_actors.errors import InvalidArgument

ACCEPTED = [
    r"ready",
    r"listening on port \d+",
    r"ERROR|WARN",
    r"(\d+\.){3}\d+",  # the outer repetition is bounded
    r"(?:GET|POST) /api/\w+",
    r"^\s*(\w+)=(\S+)$",
    r"(ab)+c",
    r".*error.*",
    r"(?>a+)+",  # atomic: never backtracked into
    r"(?:a+)++",  # possessive
    r"(?=\d+)\d",
]
REFUSED = [
    r"(a+)+$",
    r"(\w+\s?)*:",
    r"(.*)*x",
    r"(?:a*)*",
    r"((ab)*c)*d",
    r"(a|b+)+",
    r"(?=(a+)+)b",
    r"x(?:y(?:z+?)+)",
]


@pytest.mark.parametrize("pattern", ACCEPTED)
def test_patterns_without_a_repeated_repetition_compile_as_python_compiles_them(pattern: str) -> None:
    assert compile_client_regex(pattern, "query").pattern == pattern


@pytest.mark.parametrize("pattern", REFUSED)
def test_a_repeated_repetition_is_refused_with_how_to_write_it(pattern: str) -> None:
    with pytest.raises(
        InvalidArgument, match=r"invalid argument `query`: .* repeats a repetition"
    ) as refusal:
        compile_client_regex(pattern, "query")
    assert "possessive" in refusal.value.message and "atomic" in refusal.value.message


def test_a_pattern_that_does_not_compile_says_why() -> None:
    with pytest.raises(InvalidArgument, match=r"`pattern`: not a regular expression \(missing \)"):
        compile_client_regex("(unclosed", "pattern")


def test_wait_for_refuses_a_log_line_pattern_that_repeats_a_repetition() -> None:
    with pytest.raises(InvalidArgument, match="`pattern`: '\\(a\\+\\)\\+' repeats a repetition"):
        WaitFor(name="web", until="log_line", pattern="(a+)+").compiled_pattern()
