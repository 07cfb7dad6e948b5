from __future__ import annotations

import pytest

from pm_actors.actors.log_text import (
    LEVELS,
    case_parts,
    clean_line,
    identifier_parts,
    level_words,
    line_level,
)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("plain text", "plain text"),
        ("\x1b[1;31mred\x1b[0m and \x1b[38;5;208morange\x1b[m", "red and orange"),
        ("\x1b[2K\x1b[1Gcursor moved", "cursor moved"),
        ("\x1b]8;;https://example.com\x1b\\link\x1b]8;;\x1b\\", "link"),
        ("\x1b]0;window title\x07after", "after"),
        ("\x1b(Bcharset", "charset"),
        ("progress 10%\rprogress 55%\rprogress 100%", "progress 100%"),
        ("trailing return\r", "trailing return"),
        ("bell\x07 and nul\x00 go, a\ttab stays", "bell and nul go, a\ttab stays"),
        ("stray escape \x1b", "stray escape "),
        ("café ünïcode ✓", "café ünïcode ✓"),
    ],
)
def test_clean_line_removes_escapes_and_keeps_the_last_redraw(raw: str, clean: str) -> None:
    assert clean_line(raw) == clean


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("raise ConnectionRefusedError(111)", "Connection Refused Error"),
        ("TypeError and getHTTPResponse", "Type Error get HTTP Response"),
        ("XMLHttpRequest2Server", "XML Http Request 2 Server"),
        ("snake_case and dotted.names and /a/path are split by the index itself", None),
        ("ALL CAPS and lower", None),
    ],
)
def test_identifier_parts_split_only_identifiers_that_change_case(text: str, parts: str | None) -> None:
    assert identifier_parts(text) == parts


def test_case_parts_of_a_single_word() -> None:
    assert case_parts("ConnectionRefused") == ["Connection", "Refused"]
    assert case_parts("Error") == ["Error"]


@pytest.mark.parametrize(
    ("line", "level"),
    [
        ("2024-05-01 12:00:00 INFO served", "info"),
        ("[WARN] slow", "warning"),
        ("E 2024 ERROR: disk", "error"),
        ('{"level": "warning", "msg": "x"}', "warning"),
        ("lvl=debug msg=x", "debug"),
        ("error: cannot open file", "error"),
        ("[Fatal] gone", "fatal"),
        ("Traceback-free ValueError: bad", None),
        ("ValueError: bad", "error"),
        ("DeprecationWarning: old", "warning"),
        ("CRITICAL meltdown", "fatal"),
        ("no level, though it mentions an error and INFOrmation", None),
        ("x" * 200 + " ERROR far away", None),
    ],
)
def test_line_level_reads_the_level_a_line_carries_near_its_start(line: str, level: str | None) -> None:
    found = line_level(line)
    assert (None if found is None else LEVELS[found]) == level


def test_every_level_word_a_line_can_carry_is_among_the_index_words_of_its_level() -> None:
    for line in ("WARNING x", "level=warn", "[error] x", "KeyError: x", "RuntimeWarning: y", "PANIC z"):
        level = line_level(line)
        assert level is not None
        words = set(level_words(level))
        tokens = {
            part.lower()
            for token in line.replace("=", " ").replace(":", " ").split()
            for part in case_parts(token)
        }
        assert words & (tokens | {token.strip("[]").lower() for token in line.split()}), line
