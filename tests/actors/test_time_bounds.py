from __future__ import annotations

import pytest

from pm_actors.actors.time_bounds import parse_time
from pm_actors.errors import InvalidArgument

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", NOW - 30),
        ("15m", NOW - 900),
        ("2h", NOW - 7200),
        ("1h30m", NOW - 5400),
        ("7d", NOW - 7 * 86_400),
        ("1.5h", NOW - 5400),
        ("2023-11-14T22:13:20Z", 1_700_000_000.0),
        ("2023-11-14T23:13:20+01:00", 1_700_000_000.0),
        ("2023-11-14T22:13:20", 1_700_000_000.0),
        ("2023-11-14", 1_699_920_000.0),
    ],
)
def test_a_duration_or_an_iso_time(text: str, expected: float) -> None:
    assert parse_time(text, NOW, "since") == expected


@pytest.mark.parametrize("text", ["yesterday", "15 minutes", "-5m", "2023-13-01"])
def test_anything_else_is_refused_naming_the_argument_and_the_forms(text: str) -> None:
    with pytest.raises(InvalidArgument, match=r"invalid argument `before`: .* \(30s, 15m"):
        parse_time(text, NOW, "before")
