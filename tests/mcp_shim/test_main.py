"""`run_shim` and the client session: an unreachable backend is reported per call, not fatal.

The stdio test runs the real `run_shim` in a child over real pipes; the backend it is given
is (by a fake behind our Backend seam), since the daemon end to end is tested elsewhere.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import mcp_types as types
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from pm_actors import api, results
from pm_actors.errors import DaemonUnavailable
from pm_actors.ipc.session import Backend, ClientSession, EventListener
from pm_actors.mcp_shim.server import build_server
from tests.mcp_shim.samples import sample_result

T = TypeVar("T")

DEADLINE_S = 30


class ListingBackend:
    def __init__(self) -> None:
        self.closed = False

    async def call(self, request: api.RequestUnion) -> Any:
        return sample_result(type(request).result_type)

    async def subscribe(self, topics: frozenset[api.Topic], listener: EventListener) -> None:
        pass

    async def wait_closed(self) -> None:
        await anyio.sleep_forever()

    async def close(self) -> None:
        self.closed = True


class FlakyOpener:
    """Fails the first `failures` attempts with DaemonUnavailable, then opens a ListingBackend."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.attempts = 0
        self.opened: ListingBackend | None = None

    async def __call__(self) -> Backend:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise DaemonUnavailable(f"no daemon answers (attempt {self.attempts})")
        self.opened = ListingBackend()
        return self.opened


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    async def bounded() -> T:
        with anyio.fail_after(DEADLINE_S):
            return await scenario()

    return anyio.run(bounded)


def test_a_failed_start_is_logged_and_the_next_call_connects(caplog: pytest.LogCaptureFixture) -> None:
    opener = FlakyOpener(failures=1)
    backend = ClientSession(opener, "/")

    async def scenario() -> Any:
        await backend.try_connect()
        return await backend.call(api.ListProcesses())

    with caplog.at_level(logging.WARNING, logger="pm_actors.ipc.session"):
        result = run(scenario)
    assert result == sample_result(results.ProcessList)
    assert opener.attempts == 2
    assert "no daemon answers (attempt 1)" in caplog.text


def test_each_call_reports_the_reason_while_the_backend_stays_unreachable() -> None:
    opener = FlakyOpener(failures=3)
    backend = ClientSession(opener, "/")

    async def scenario() -> list[str]:
        await backend.try_connect()
        reasons = []
        for _ in range(2):
            with pytest.raises(DaemonUnavailable) as caught:
                await backend.call(api.ListProcesses())
            reasons.append(caught.value.message)
        return reasons

    assert run(scenario) == ["no daemon answers (attempt 2)", "no daemon answers (attempt 3)"]


def test_a_connected_backend_is_opened_once_and_closed_with_the_shim() -> None:
    opener = FlakyOpener(failures=0)
    backend = ClientSession(opener, "/")

    async def scenario() -> None:
        await backend.try_connect()
        await backend.call(api.ListProcesses())
        await backend.call(api.ListProcesses())
        await backend.close()

    run(scenario)
    assert opener.attempts == 1
    assert opener.opened is not None and opener.opened.closed


def test_through_mcp_an_unreachable_daemon_is_an_error_result_with_the_reason() -> None:
    backend = ClientSession(FlakyOpener(failures=5), "/")

    async def scenario() -> types.CallToolResult:
        await backend.try_connect()
        async with Client(build_server(backend), mode="legacy") as client:
            return await client.call_tool("list_processes", {})

    result = run(scenario)
    assert result.is_error is True
    content = result.content[0]
    assert isinstance(content, types.TextContent)
    assert content.text == "daemon_unavailable: no daemon answers (attempt 2)"


SHIM_WITH_FAKE_BACKEND = """
from pm_actors import results
from pm_actors.config import load_config
from pm_actors.errors import DaemonUnavailable
from pm_actors.mcp_shim import main
from pm_actors.states import Health, ProcessState

class EchoBackend:
    async def call(self, request):
        return results.StartedProcess(
            name=request.name, state=ProcessState.RUNNING, pid=1, command=request.command,
            args=list(request.args), cwd=request.cwd, restarts=0, exit_code=None,
            started_at=None, ended_at=None, health=Health.UNKNOWN,
        )

    async def close(self):
        pass

attempts = []

async def open_backend():
    attempts.append(1)
    print("stray output while connecting")
    if len(attempts) <= 2:
        raise DaemonUnavailable(f"no daemon answers (attempt {len(attempts)})")
    return EchoBackend()

main.run_shim(load_config(), open_backend)
"""


def test_the_shim_over_real_stdio_reports_then_recovers_and_keeps_stdout_clean(
    short_tmp: Path, pm_environment: dict[str, str]
) -> None:
    """Start fails, the first call reports why, the second connects; the working directory of
    the shim is the default cwd; prints and logs go to stderr, never onto the wire."""
    stderr_path = short_tmp / "shim.stderr"
    parameters = StdioServerParameters(
        command=sys.executable, args=["-c", SHIM_WITH_FAKE_BACKEND], env=pm_environment, cwd=str(short_tmp)
    )

    async def scenario() -> tuple[types.CallToolResult, types.CallToolResult]:
        with stderr_path.open("w") as errlog:
            async with Client(stdio_client(parameters, errlog=errlog), mode="legacy") as client:
                await client.list_tools()
                unavailable = await client.call_tool("list_processes", {})
                started = await client.call_tool("start_process", {"name": "web", "command": "python3"})
        return unavailable, started

    unavailable, started = run(scenario)
    assert unavailable.is_error is True
    assert isinstance(unavailable.content[0], types.TextContent)
    assert unavailable.content[0].text == "daemon_unavailable: no daemon answers (attempt 2)"
    assert started.is_error is False
    assert isinstance(started.structured_content, dict)
    assert started.structured_content["cwd"] == str(short_tmp)
    stderr = stderr_path.read_text()
    assert "stray output while connecting" in stderr
    assert "no daemon answers (attempt 1)" in stderr
