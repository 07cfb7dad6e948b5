from __future__ import annotations

from pm_actors.actors.retention import (
    RetentionPolicy,
    age_cutoff,
    over_size_limit,
    rows_older_than,
    rows_to_trim,
    trim_target,
)
from pm_actors.config import load_config

POLICY = RetentionPolicy(max_age_s=3_600, max_chars_per_process=1_000)


def test_the_policy_comes_from_the_configuration() -> None:
    config = load_config({"HOME": "/h", "PM_LOG_RETENTION_DAYS": "2", "PM_MAX_LOG_SIZE_MB": "3"})
    assert RetentionPolicy.from_config(config) == RetentionPolicy(
        max_age_s=2 * 86_400, max_chars_per_process=3 * 1024 * 1024
    )


def test_only_processes_past_the_limit_are_trimmed_and_down_to_below_it() -> None:
    assert over_size_limit({1: 1_000, 2: 1_001, 3: 5}, POLICY) == [2]
    assert trim_target(POLICY) == 900


def test_the_oldest_lines_to_trim_are_judged_by_their_average_length() -> None:
    assert rows_to_trim(lines=100, chars=1_000, target_chars=900) == 10
    assert rows_to_trim(lines=3, chars=1_000, target_chars=900) == 1  # rounded up: never short
    assert rows_to_trim(lines=100, chars=1_000, target_chars=1_000) == 0
    assert rows_to_trim(lines=0, chars=0, target_chars=0) == 0
    assert rows_to_trim(lines=10, chars=1_000, target_chars=-5) == 10


def test_rows_are_trimmed_by_age_only_while_they_are_old() -> None:
    assert rows_older_than([1.0, 2.0, 9.0, 3.0], cutoff=5.0) == 2
    assert rows_older_than([6.0], cutoff=5.0) == 0
    assert rows_older_than([1.0, 2.0], cutoff=5.0) == 2
    assert age_cutoff(10_000.0, POLICY) == 6_400.0
