"""Turning the bytes of one pipe into output lines, none lost.

Bytes are decoded incrementally (a UTF-8 character split across two reads stays whole;
invalid bytes become U+FFFD), split on newlines, and a line longer than `MAX_LINE_CHARS` is
cut into pieces of that size rather than dropped or held in memory without bound. At end of
file the unterminated rest becomes a last line.
"""

from __future__ import annotations

import codecs

MAX_LINE_CHARS = 64 * 1024
"""Longest stored row; a longer line is split into rows of this size, in order."""


class LineSplitter:
    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""

    def feed(self, data: bytes) -> list[str]:
        """The complete lines that `data` finishes (without their newline).

        Each step works on the whole read at once (decode, drop the `\r` of `\r\n`, split),
        in C: a flood costs no Python work per line here."""
        text = self._partial + self._decoder.decode(data)
        if "\r" in text:
            text = text.replace("\r\n", "\n")  # a `\r` ending the partial line meets its `\n` here
        lines = text.split("\n")
        self._partial = lines.pop()
        if len(text) > MAX_LINE_CHARS and max(map(len, lines), default=0) > MAX_LINE_CHARS:
            lines = [chunk for line in lines for chunk in _chunks(line)]
        if len(self._partial) >= MAX_LINE_CHARS:
            *full, self._partial = _chunks(self._partial, keep_remainder=True)
            lines.extend(full)
        return lines

    def finish(self) -> list[str]:
        """What is left at end of file: the unterminated last line, if any."""
        rest = self._partial + self._decoder.decode(b"", final=True)
        self._partial = ""
        return _chunks(rest) if rest else []


def _chunks(text: str, keep_remainder: bool = False) -> list[str]:
    """`text` in pieces of MAX_LINE_CHARS; with keep_remainder the last piece may be short or empty."""
    pieces = [text[start : start + MAX_LINE_CHARS] for start in range(0, len(text), MAX_LINE_CHARS)]
    if keep_remainder:
        if pieces and len(pieces[-1]) == MAX_LINE_CHARS:
            pieces.append("")
        return pieces
    return pieces or [""]
