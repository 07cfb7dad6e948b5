"""A fake backend behind our own `Backend` seam, and an in-process MCP client over it.

The shim's logic (tools, resources, prompts, completions, notifications) is tested through a
real MCP client session against `build_server`; what the daemon would answer comes from the
samples, what it would push is pushed by the test through `FakeBackend.push`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import msgspec
from mcp import Client

from pm_actors import api, results
from pm_actors.ipc.session import Backend, ClientSession, EventListener
from pm_actors.mcp_shim.server import build_server
from tests.mcp_shim.samples import sample_result

T = TypeVar("T")

SHIM_CWD = "/home/tester/project"
CALL_DEADLINE_S = 30


class FakeBackend:
    """Records each request and answers with `answer(request)`, which may raise."""

    def __init__(self, answer: Callable[[api.RequestUnion], Any] | None = None) -> None:
        self.requests: list[api.RequestUnion] = []
        self.closed = False
        self._answer = answer or answer_like_a_daemon
        self.topics: frozenset[api.Topic] = frozenset()
        self.listener: EventListener | None = None

    async def call(self, request: api.RequestUnion) -> Any:
        self.requests.append(request)
        return self._answer(request)

    async def subscribe(self, topics: frozenset[api.Topic], listener: EventListener) -> None:
        self.topics, self.listener = topics, listener

    async def wait_closed(self) -> None:
        await anyio.sleep_forever()

    async def close(self) -> None:
        self.closed = True

    def push(self, *topics: api.Topic) -> None:
        """What the daemon's event stream would do: report these topics as changed."""
        assert self.listener is not None, "nobody subscribed"
        self.listener(list(topics))


def answer_like_a_daemon(request: api.RequestUnion) -> Any:
    """A sample result of the right type; a started process echoes its definition."""
    if isinstance(request, api.StartProcess):
        running = sample_result(results.ProcessRecord)
        return results.StartedProcess(
            **{**msgspec.structs.asdict(running), "name": request.name, "cwd": request.cwd or ""}
        )
    return sample_result(type(request).result_type)


def raising(error: Exception) -> Callable[[api.RequestUnion], Any]:
    def answer(request: api.RequestUnion) -> Any:
        raise error

    return answer


def session_over(backend: FakeBackend) -> ClientSession:
    """The shim's client session, in the shim's working directory, over the fake backend."""

    async def open_backend() -> Backend:
        return backend

    return ClientSession(open_backend, SHIM_CWD)


def with_client(
    backend: FakeBackend, mode: str, scenario: Callable[[Client], Awaitable[T]], **client_options: Any
) -> T:
    """Run `scenario` against a client connected in-process to a shim over `backend`."""

    async def main() -> T:
        with anyio.fail_after(CALL_DEADLINE_S):
            async with Client(build_server(session_over(backend)), mode=mode, **client_options) as client:
                return await scenario(client)

    return anyio.run(main)
