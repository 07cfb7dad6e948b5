"""Rate limiting of one client connection: a token bucket per tool.

A client that calls faster than PM_RATE_LIMIT allows gets `rate_limited` at once, with how
long to wait, instead of its calls queueing without bound in the daemon. Each tool has its own
bucket, so a loop polling one tool never starves the others. Pure logic: the clock is given.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pm_actors.config import RateLimit
from pm_actors.errors import RateLimited


class TokenBucket:
    """`capacity` tokens, refilled continuously at `rate_per_s`; each call takes one."""

    def __init__(self, capacity: float, rate_per_s: float, now: float) -> None:
        self._capacity = capacity
        self._rate_per_s = rate_per_s
        self._tokens = capacity
        self._updated_at = now

    def take(self, now: float) -> float:
        """Take a token: 0.0 if there was one, else the seconds until there will be one."""
        elapsed = max(now - self._updated_at, 0.0)
        self._tokens = min(self._capacity, self._tokens + elapsed * self._rate_per_s)
        self._updated_at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self._rate_per_s


class RateLimiter:
    """The buckets of one connection, by tool name."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def check(self, tool: str) -> None:
        """Count one call of `tool`; raise `RateLimited` saying when to retry if over the limit."""
        now = self._clock()
        bucket = self._buckets.get(tool)
        if bucket is None:
            rate_per_s = self._limit.calls / self._limit.period_s
            bucket = self._buckets[tool] = TokenBucket(self._limit.calls, rate_per_s, now)
        wait_s = bucket.take(now)
        if wait_s > 0:
            raise RateLimited(
                f"more than {self._limit.calls} {tool} calls in {self._limit.period_s:g} s on this "
                f"connection (PM_RATE_LIMIT); retry after {wait_s:.3f} s"
            )
