from __future__ import annotations

import re

import pytest

from pm_actors.actors.search_terms import focus, fts5_query, with_level
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
