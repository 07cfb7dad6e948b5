"""The token bucket per tool and connection: pure logic on a fake clock, then a real server."""

from __future__ import annotations

import re

import msgspec
import pytest

from pm_actors.api import ListProcesses, TailLogs
from pm_actors.config import Config, RateLimit, load_config
from pm_actors.errors import ErrorCode, InvalidArgument, RateLimited
from pm_actors.ipc.client import DaemonClient
from pm_actors.ipc.rate_limit import RateLimiter, TokenBucket
from tests.ipc.support import FakeActors, run, running_server


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_a_burst_of_its_capacity_then_one_call_per_refill() -> None:
    bucket = TokenBucket(capacity=3, rate_per_s=2.0, now=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.5)
    assert bucket.take(0.25) == pytest.approx(0.25)
    assert bucket.take(0.5) == 0.0
    assert bucket.take(10.0) == 0.0, "a long pause refills the bucket (to its capacity only)"
    assert [bucket.take(10.0) for _ in range(3)] == [0.0, 0.0, pytest.approx(0.5)]


def test_each_tool_has_its_own_bucket_and_the_refusal_says_when_to_retry() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(calls=2, period_s=10.0), clock)
    limiter.check("search_logs")
    limiter.check("search_logs")
    with pytest.raises(RateLimited, match=r"more than 2 search_logs calls in 10 s .* retry after 5\.000 s"):
        limiter.check("search_logs")
    limiter.check("list_processes")
    clock.now += 5.0
    limiter.check("search_logs")


@pytest.mark.parametrize(
    ("text", "limit"), [("2000/10s", RateLimit(2000, 10.0)), ("60/1m", RateLimit(60, 60.0))]
)
def test_pm_rate_limit_reads_calls_per_period(text: str, limit: RateLimit) -> None:
    assert load_config({"HOME": "/tmp", "PM_RATE_LIMIT": text}).rate_limit == limit
    assert load_config({"HOME": "/tmp", "PM_RATE_LIMIT": "off"}).rate_limit is None


def test_a_burst_over_the_limit_gets_rate_limited_with_a_retry_after_and_other_tools_go_on(
    config: Config, actors: FakeActors
) -> None:
    limited = msgspec.structs.replace(config, rate_limit=RateLimit(calls=5, period_s=60.0))

    async def scenario() -> None:
        async with running_server(limited, actors):
            client = await DaemonClient.connect(limited)
            for _ in range(5):
                await client.call(ListProcesses())
            with pytest.raises(RateLimited) as refused:
                await client.call(ListProcesses())
            assert refused.value.code is ErrorCode.RATE_LIMITED
            match = re.search(r"retry after (\d+\.\d+) s", refused.value.message)
            assert match is not None and 0 < float(match[1]) <= 12
            with pytest.raises(InvalidArgument):  # another tool has its own bucket: served (by the fake)
                await client.call(TailLogs(name="x"))
            async with await DaemonClient.connect(limited) as fresh:
                await fresh.call(ListProcesses())  # and another connection has its own
            await client.close()

    run(scenario())
