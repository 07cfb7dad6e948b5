"""A prompt's text: a title, what to do, sections of evidence, next steps, within a size budget.

Evidence comes first in the order it matters; when the budget runs out, the section being
written is cut at a line boundary and says which tool reads the rest, and later sections are
left out with a note, so a model always knows what it did not see.
"""

from __future__ import annotations

from dataclasses import dataclass

PROMPT_BUDGET_CHARS = 16_000
"""About 4,000 tokens: enough facts to start from, small beside a model's context; everything
else is one tool call away, and each cut says which."""

LINE_CHARS = 400
"""A line longer than this is cut: one minified blob must not eat the budget of the others."""

NOTES_CHARS = 400
"""Kept free for the notes that say what was cut and what was left out (a tool call, a few
section headings), so that the whole text stays within the budget."""


@dataclass(frozen=True)
class Section:
    heading: str
    lines: list[str]
    read_more: str = ""
    """The tool call that shows more, named when the section is cut."""


def cut_line(text: str) -> str:
    if len(text) <= LINE_CHARS:
        return text
    return text[:LINE_CHARS] + f"... ({len(text) - LINE_CHARS} more characters)"


def briefing(
    title: str,
    task: str,
    sections: list[Section],
    next_steps: list[str],
    budget: int = PROMPT_BUDGET_CHARS,
) -> str:
    """The whole prompt text, at most about `budget` characters (next steps always fit)."""
    closing = "\n## Next steps\n" + "\n".join(f"- {step}" for step in next_steps) + "\n"
    parts = [f"# {title}\n\n{task}\n"]
    room = budget - len(parts[0]) - len(closing) - NOTES_CHARS
    for index, section in enumerate(sections):
        text, complete = _fitted(section, room)
        if text:
            parts.append(text)
            room -= len(text)
        if not complete:
            left_out = [later.heading for later in sections[index + (1 if text else 0) :]]
            if left_out:
                parts.append(f"\n(Left out to fit the size budget: {', '.join(left_out)}.)\n")
            break
    parts.append(closing)
    return "".join(parts)


def _fitted(section: Section, room: int) -> tuple[str, bool]:
    """The section's text within `room` characters, and whether all of it fitted."""
    header = f"\n## {section.heading}\n"
    body = [cut_line(line) for line in section.lines] or ["(none)"]
    text = header
    for count, line in enumerate(body):
        if len(text) + len(line) + 1 > room:
            if count == 0:
                return "", False
            more = f" ({section.read_more})" if section.read_more else ""
            return text + f"(cut: {len(body) - count} more lines{more})\n", False
        text += line + "\n"
    return text, True
