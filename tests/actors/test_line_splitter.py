from __future__ import annotations

import pytest

from pm_actors.actors.line_splitter import MAX_LINE_CHARS, LineSplitter


def test_lines_split_across_reads_are_joined() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"hel") == []
    assert splitter.feed(b"lo\nwor") == ["hello"]
    assert splitter.feed(b"ld\n\n") == ["world", ""]
    assert splitter.finish() == []


def test_a_utf8_character_split_between_reads_stays_whole() -> None:
    encoded = "caf\u00e9 \u2603\n".encode()
    splitter = LineSplitter()
    lines = [line for byte in encoded for line in splitter.feed(bytes([byte]))]
    assert lines == ["caf\u00e9 \u2603"]


def test_invalid_utf8_becomes_replacement_characters_not_an_error() -> None:
    assert LineSplitter().feed(b"bad \xff\xfe byte\n") == ["bad \ufffd\ufffd byte"]


def test_crlf_line_endings_lose_the_carriage_return() -> None:
    assert LineSplitter().feed(b"windows\r\n") == ["windows"]


def test_the_unterminated_last_line_is_kept_at_end_of_file() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"done\nno newline") == ["done"]
    assert splitter.finish() == ["no newline"]


@pytest.mark.parametrize("size", [MAX_LINE_CHARS - 1, MAX_LINE_CHARS, MAX_LINE_CHARS * 3 + 7])
def test_a_huge_line_is_split_into_capped_rows_that_join_back_to_it(size: int) -> None:
    text = "".join(chr(ord("a") + index % 26) for index in range(size))
    splitter = LineSplitter()
    rows: list[str] = []
    data = text.encode()
    for start in range(0, len(data), 4096):
        rows.extend(splitter.feed(data[start : start + 4096]))
    rows.extend(splitter.finish())
    assert all(len(row) <= MAX_LINE_CHARS for row in rows)
    assert "".join(rows) == text


def test_a_complete_over_long_line_read_at_once_is_split_and_the_next_line_stays_whole() -> None:
    text = "".join(chr(ord("a") + index % 26) for index in range(MAX_LINE_CHARS * 2 + 5))
    rows = LineSplitter().feed(f"{text}\nnext\n".encode())
    assert [len(row) for row in rows] == [MAX_LINE_CHARS, MAX_LINE_CHARS, 5, 4]
    assert "".join(rows[:-1]) == text and rows[-1] == "next"
