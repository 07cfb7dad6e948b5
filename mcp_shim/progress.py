"""Progress notifications while a long tool runs, for a client that sent a progress token.

A long call (`wait_for` may wait minutes) is otherwise silent, and a client may give up on it
or show nothing. While one runs, the shim reports every second how long it has waited out of
its timeout: honest progress that needs nothing from the daemon. `report_progress` sends
nothing when the caller gave no token.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
from mcp.server.session import ServerSession

from pm_actors.api import WaitFor
from pm_actors.request_base import Request

T = TypeVar("T")

PROGRESS_EVERY_S = 1.0
"""Often enough that a client sees the call is alive, rarely enough to cost nothing."""


@dataclass(frozen=True)
class LongCall:
    total_s: Callable[[Any], float]
    """The most the call may take, from its request: the total of the progress."""
    describe: Callable[[Any], str]


LONG_CALLS: dict[type[Request], LongCall] = {
    WaitFor: LongCall(lambda request: request.timeout_s, lambda request: f"{request.name}: {request.until}"),
}
"""The tools that report progress; the groups' start and a search waiting for the index join later."""


async def with_progress(session: ServerSession, request: Request, call: Awaitable[T]) -> T:
    """Await `call`, reporting progress meanwhile if `request` is a long one."""
    long_call = LONG_CALLS.get(type(request))
    if long_call is None:
        return await call
    failure: Exception | None = None
    async with anyio.create_task_group() as group:
        group.start_soon(_report, session, long_call.total_s(request), long_call.describe(request))
        try:
            result = await call
        except Exception as error:  # raised below, as it came: the group would wrap it in a group
            failure = error
        finally:
            group.cancel_scope.cancel()
    if failure is not None:
        raise failure
    return result


async def _report(session: ServerSession, total_s: float, what: str) -> None:
    started = time.monotonic()
    while True:
        await anyio.sleep(PROGRESS_EVERY_S)
        elapsed = time.monotonic() - started
        message = f"waiting for {what}: {elapsed:.0f} of {total_s:g} s"
        await session.report_progress(min(elapsed, total_s), total_s, message)
