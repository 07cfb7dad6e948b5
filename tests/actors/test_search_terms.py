from __future__ import annotations

import re

import apsw
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pm_actors.actors.search_terms import focus, fts5_query, substring_prefilter, with_level
from pm_actors.errors import InvalidArgument


def test_words_become_quoted_terms_and_identifiers_also_their_parts() -> None:
    assert fts5_query("Error refused", "words") == '"Error" "refused"'
    assert fts5_query("ConnectionRefused", "words") == '("ConnectionRefused" OR "Connection Refused")'
    assert fts5_query('a "b" AND (c', "words") == '"a" "b" "AND" "c"'


def test_phrase_and_raw_fts5_queries() -> None:
    assert fts5_query('say "hi"', "phrase") == '"say ""hi"""'
    assert fts5_query("a OR b*", "fts5") == "a OR b*"


def test_a_query_without_words_is_refused_with_what_to_use_instead() -> None:
    with pytest.raises(InvalidArgument, match='mode "substring"'):
        fts5_query("[]*", "words")


def test_a_level_narrows_the_expression_to_lines_holding_a_level_word() -> None:
    assert with_level('"x"', None) == '"x"'
    narrowed = with_level('"x"', 5)
    assert narrowed.startswith('("x") AND (') and '"fatal"' in narrowed and '"error"' not in narrowed


def test_focus_finds_where_a_query_matched() -> None:
    text = "prefix ConnectionRefusedError suffix"
    assert focus(text, "refused", "words", None) == text.index("Refused")
    assert focus(text, "suffix", "substring", None) == text.index("suffix")
    assert focus(text, "Error", "regex", re.compile("Err")) == text.index("Error")
    assert focus(text, "absent", "words", None) == 0


def test_a_substring_is_narrowed_by_the_whole_tokens_inside_it() -> None:
    assert substring_prefilter("id=777777 ") == 'line : "777777"'
    assert substring_prefilter("x.y_z.w") == 'line : "y" AND line : "z" AND line : "w" *'
    assert substring_prefilter("Error: conn") == 'line : "conn" *'  # begins a token; `Error` may end one
    assert substring_prefilter("plain") is None
    assert substring_prefilter("plain ") is None


TEXT = st.text(alphabet="ab1 =._-Éé→\"'", max_size=8)
TOKEN = st.text(alphabet="ab1Éé→", max_size=6)
SEPARATOR = st.text(alphabet=" =._-\"'", min_size=1, max_size=3)


@settings(max_examples=400, deadline=None)
@given(
    around=st.tuples(TEXT, TOKEN, TOKEN, TEXT),
    middle=TOKEN,
    separators=st.tuples(SEPARATOR, SEPARATOR),
    cut=st.integers(1, 30),
)
def test_every_line_holding_a_substring_matches_its_prefilter(
    around: tuple[str, str, str, str], middle: str, separators: tuple[str, str], cut: int
) -> None:
    """Whole tokens inside the query, and the token its last run begins, whatever surrounds them."""
    prefix, left, right, suffix = around
    query = f"{left}{separators[0]}1{middle}{separators[1]}{right}"[: len(left) + len(separators[0]) + cut]
    expression = substring_prefilter(query)
    assert expression is not None
    connection = apsw.Connection(":memory:")
    connection.execute("CREATE VIRTUAL TABLE t USING fts5(line, parts, tokenize='unicode61')")
    connection.execute("INSERT INTO t(line, parts) VALUES(?, NULL)", (f"{prefix}{query}{suffix}",))
    assert connection.execute("SELECT count(*) FROM t WHERE t MATCH ?", (expression,)).get == 1
