"""Answers sized for a model: lines cut to a per-line cap, answers to a character budget.

A cut is never silent: the text says how many characters were left out and how to read the
whole line (get_logs of that one line with higher caps); an answer that stops at its budget
says so too. Pure: the reader hands each line to a `CharBudget` in the order it returns them.
"""

from __future__ import annotations

from pm_actors.request_base import DEFAULT_MAX_CHARS

ELLIPSIS = "…"
MARKER_ROOM = 200
"""Characters kept free for the cut marker when a line is cut to what is left of the budget."""


def cut_marker(name: str, line_id: int, cut: int, length: int) -> str:
    """What replaces the end of a cut line: how much went, and the call that reads it whole."""
    caps = f"max_line_chars={length}" + (f" max_chars={length}" if length > DEFAULT_MAX_CHARS else "")
    return (
        f"{ELLIPSIS}[{cut:,} of {length:,} chars cut; whole line: get_logs name={name} "
        f"after_id={line_id - 1} limit=1 {caps}]"
    )


def shorten(text: str, keep: int, focus: int = 0) -> tuple[str, int, int]:
    """(kept text, where it starts, characters left out) of `text` cut to `keep` characters.

    The kept part begins a little before `focus` (where a search matched) so that the match is
    shown with some of what precedes it; it is the start of the line when focus is 0."""
    if len(text) <= keep:
        return text, 0, 0
    start = max(0, min(focus - keep // 4, len(text) - keep))
    kept = text[start : start + keep]
    return kept, start, len(text) - len(kept)


class CharBudget:
    """Characters left for line text in one answer, and the per-line cap."""

    def __init__(self, max_chars: int, max_line_chars: int) -> None:
        self.left = max_chars
        self.max_line_chars = max_line_chars
        self.reached = False
        """True once a line did not fit: the answer ends there."""
        self._taken = 0

    def take(self, text: str, name: str, line_id: int, focus: int = 0) -> tuple[str, int] | None:
        """(text to return, characters cut) for the next line, or None once the budget is spent.

        The first line of an answer always fits, cut to the budget if need be, so that an
        answer is never empty while there is something to show."""
        shown, cut = self._shown(text, self.max_line_chars, name, line_id, focus)
        if len(shown) > self.left:
            if self._taken:
                self.reached = True
                return None
            shown, cut = self._shown(text, max(1, self.left - MARKER_ROOM), name, line_id, focus)
        self.left -= len(shown)
        self._taken += 1
        return shown, cut

    @staticmethod
    def _shown(text: str, keep: int, name: str, line_id: int, focus: int) -> tuple[str, int]:
        kept, start, cut = shorten(text, keep, focus)
        if not cut:
            return text, 0
        return (ELLIPSIS if start else "") + kept + cut_marker(name, line_id, cut, len(text)), cut
