"""What retention trims: pure decisions, tested without a database.

Two limits apply to stored output (`PM_LOG_RETENTION_DAYS`, `PM_MAX_LOG_SIZE_MB`): lines older
than the age limit go, and a process whose stored text passes the size limit loses its oldest
lines. The LogWriterActor asks these functions what to delete and deletes it in small chunks,
so that ingest never waits long behind retention.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import msgspec

from pm_actors.config import Config

SECONDS_PER_DAY = 86_400
CHARS_PER_MB = 1024 * 1024
"""The size limit counts characters of text: a byte each for ASCII output."""
TRIM_TO_FRACTION = 0.9
"""A process over its size limit is trimmed to this fraction of it, so that it is not trimmed
again after every batch of new lines."""


class RetentionPolicy(msgspec.Struct, frozen=True, kw_only=True):
    max_age_s: float
    """Lines older than this are deleted."""
    max_chars_per_process: int
    """A process's stored text beyond this loses its oldest lines."""

    @classmethod
    def from_config(cls, config: Config) -> RetentionPolicy:
        return cls(
            max_age_s=config.log_retention_days * SECONDS_PER_DAY,
            max_chars_per_process=config.max_log_size_mb * CHARS_PER_MB,
        )


def over_size_limit(stored_chars: Mapping[int, int], policy: RetentionPolicy) -> list[int]:
    """The processes (ids) whose stored text is past the size limit."""
    return [process_id for process_id, chars in stored_chars.items() if chars > policy.max_chars_per_process]


def trim_target(policy: RetentionPolicy) -> int:
    """The characters a process over the size limit is trimmed down to."""
    return int(policy.max_chars_per_process * TRIM_TO_FRACTION)


def rows_to_trim(lines: int, chars: int, target_chars: int) -> int:
    """How many of a process's oldest lines to delete to bring `chars` (in `lines`) down to
    `target_chars`, judged by their average length: no line is read to decide. The trim looks
    again after each chunk, with what really went, so a wrong guess costs one more chunk."""
    if chars <= target_chars or lines == 0:
        return 0
    return min(lines, math.ceil((chars - target_chars) * lines / chars))


def rows_older_than(timestamps: Sequence[float], cutoff: float) -> int:
    """How many of the oldest rows (their times, in id order) are older than `cutoff`.

    Rows are trimmed in id order and only while they are old: ids grow with arrival, so a line
    stamped out of order (a clock stepped back) waits for the lines around it."""
    for count, timestamp in enumerate(timestamps):
        if timestamp >= cutoff:
            return count
    return len(timestamps)


def age_cutoff(now: float, policy: RetentionPolicy) -> float:
    """Lines stamped before this are older than the age limit."""
    return now - policy.max_age_s
