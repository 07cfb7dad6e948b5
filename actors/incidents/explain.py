"""Why a run crashed, in one phrase: the decision, apart from where its facts come from.

Pure: given how the run ended, the error its output showed last (if any) and its memory use
against its limit, `explain_crash` names the category and the phrase an agent reads first
("crashed: ModuleNotFoundError: No module named 'flask'", not just an exit code).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from pm_actors.error_results import ErrorCategory as Category

NEAR_MEMORY_LIMIT: Final = 0.8
"""A SIGKILL while the tree used at least this share of its memory limit is taken for the
out-of-memory killer: samples come once a second, so the last one may be well below the peak."""

SIGNAL_CATEGORIES: Final[dict[str, Category]] = {
    "SIGSEGV": "segfault",
    "SIGBUS": "segfault",
    "SIGILL": "segfault",
    "SIGFPE": "segfault",
    "SIGABRT": "killed_by_signal",
}


@dataclass(frozen=True)
class RunEnd:
    """How a crashed run ended, and the last memory sample of its tree."""

    exit_code: int | None
    exit_signal: str | None
    memory_mb: float | None = None
    memory_limit_mb: float | None = None
    reason: str = ""
    """Why it ended, as recorded: what a run that never started has to say for itself."""


@dataclass(frozen=True)
class ShownError:
    """The error the run's output showed last: its category and headline."""

    category: Category
    headline: str


@dataclass(frozen=True)
class Explanation:
    category: Category
    phrase: str
    from_output: bool
    """True when the phrase is the output's own error (the incident is that one)."""


def explain_crash(end: RunEnd, shown: ShownError | None) -> Explanation:
    """The category and phrase of a crash: a fatal signal first (the output rarely says it),
    then the error the output showed, then how it ended."""
    signal = end.exit_signal
    if signal in SIGNAL_CATEGORIES and not (shown and shown.category == "out_of_memory"):
        return Explanation(SIGNAL_CATEGORIES[signal], f"killed by {signal}", from_output=False)
    if signal == "SIGKILL" and _near_memory_limit(end):
        phrase = f"killed by SIGKILL at {end.memory_mb:.0f} MB of its {end.memory_limit_mb:.0f} MB limit"
        return Explanation("out_of_memory", phrase, from_output=False)
    if shown is not None:
        return Explanation(shown.category, shown.headline, from_output=True)
    if signal is not None:
        return Explanation("killed_by_signal", f"killed by {signal}", from_output=False)
    if end.exit_code is None:  # no child ever ran: the spawn's own failure is the explanation
        return Explanation("spawn_failed", end.reason or "could not be started", from_output=False)
    phrase = end.reason or f"exited with code {end.exit_code}"
    return Explanation("exit_nonzero", phrase, from_output=False)


def _near_memory_limit(end: RunEnd) -> bool:
    if end.memory_mb is None or not end.memory_limit_mb:
        return False
    return end.memory_mb >= NEAR_MEMORY_LIMIT * end.memory_limit_mb
