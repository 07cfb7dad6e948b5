"""Points in time a client gives as text: an ISO 8601 time, or a duration back from now.

`since`, `until` (search_logs) and `before` (clear_logs) take either form, as journalctl and
LogQL do: `2024-05-01T12:00:00Z`, or `15m` for fifteen minutes ago.
"""

from __future__ import annotations

import datetime
import re

from pm_actors.errors import InvalidArgument

_SECONDS_PER_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_DURATION = re.compile(rf"(?:{_DURATION_PART.pattern})+")


def parse_time(text: str, now: float, argument: str) -> float:
    """Seconds since the epoch for `text`; raises InvalidArgument naming `argument`.

    A time without an offset is taken as UTC, as every time pm-actors shows is."""
    spec = text.strip().lower()
    if _DURATION.fullmatch(spec):
        return now - sum(
            float(amount) * _SECONDS_PER_UNIT[unit] for amount, unit in _DURATION_PART.findall(spec)
        )
    try:
        moment = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidArgument(
            f"invalid argument `{argument}`: {text!r} is neither an ISO 8601 time "
            "(2024-05-01T12:00:00Z) nor a duration back from now (30s, 15m, 2h, 7d, 1h30m)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()
