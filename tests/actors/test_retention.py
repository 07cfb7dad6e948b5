from __future__ import annotations

from pm_actors.actors.retention import (
    RetentionPolicy,
    age_cutoff,
    over_size_limit,
    rows_covering,
    rows_older_than,
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


def test_the_oldest_rows_that_cover_the_excess() -> None:
    assert rows_covering([10, 10, 10, 10], 15) == 2
    assert rows_covering([10, 10], 20) == 2
    assert rows_covering([10, 10], 500) == 2
    assert rows_covering([], 5) == 0


def test_rows_are_trimmed_by_age_only_while_they_are_old() -> None:
    assert rows_older_than([1.0, 2.0, 9.0, 3.0], cutoff=5.0) == 2
    assert rows_older_than([6.0], cutoff=5.0) == 0
    assert rows_older_than([1.0, 2.0], cutoff=5.0) == 2
    assert age_cutoff(10_000.0, POLICY) == 6_400.0
