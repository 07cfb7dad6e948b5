"""`pm-actors mcp --http`: a real shim process serving Streamable HTTP over a real daemon, driven
by the `mcp` package's own HTTP client in both protocol revisions, and by raw requests for what a
well-behaved client never sends (a foreign Host or Origin, no token)."""

from __future__ import annotations

import secrets
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.subscriptions import ResourceUpdated
from mcp.shared._httpx_utils import create_mcp_http_client

from pm_actors.mcp_shim.tools import TOOLS
from tests.daemon_support import free_tcp_port
from tests.helpers import PYTHON, eventually, process_is_gone, wait_until
from tests.mcp_shim.test_end_to_end import Shim, run, stop_daemon_if_any, structured

SLEEPER = "import time\nprint('up', flush=True)\ntime.sleep(120)"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}
POST_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


class HttpShim:
    """`python -m pm_actors mcp --http` in a child process, stopped (SIGTERM, reaped) at the end."""

    def __init__(self, environment: dict[str, str], directory: Path, host: str = "127.0.0.1") -> None:
        self.environment = environment
        self.port = free_tcp_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self.log_path = directory / f"http-{self.port}.log"
        command = [PYTHON, "-m", "pm_actors", "mcp", "--http", "--host", host, "--port", str(self.port)]
        with self.log_path.open("wb") as log:
            self.popen = subprocess.Popen(command, cwd=directory, env=environment, stdout=log, stderr=log)

    def wait_listening(self) -> None:
        def listening() -> bool:
            if self.popen.poll() is not None:
                raise AssertionError(f"the HTTP shim exited:\n{self.log_path.read_text()}")
            with socket.socket() as probe:
                return probe.connect_ex(("127.0.0.1", self.port)) == 0

        wait_until(listening, timeout=20, interval=0.02, message="the HTTP shim to listen")

    def stop(self) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        return self.popen.wait(timeout=20)


@pytest.fixture
def environment(pm_environment: dict[str, str]) -> Iterator[dict[str, str]]:
    environment = pm_environment | {"PM_DAEMON_MODE": "enabled"}
    yield environment
    stop_daemon_if_any(environment)


@pytest.fixture
def http_shim(environment: dict[str, str], short_tmp: Path) -> Iterator[HttpShim]:
    shim = HttpShim(environment, short_tmp)
    try:
        shim.wait_listening()
        yield shim
    finally:
        assert shim.stop() == 0, shim.log_path.read_text()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode", ["legacy", "auto"])
def test_http_serves_the_same_tools_and_results_as_stdio(
    http_shim: HttpShim, environment: dict[str, str], short_tmp: Path, mode: str
) -> None:
    async def over_http() -> tuple[list[str], dict[str, Any], str]:
        async with Client(http_shim.url, mode=mode) as client:
            tools = [tool.name for tool in (await client.list_tools()).tools]
            arguments = {"name": "sleeper", "command": PYTHON, "args": ["-c", SLEEPER], "cwd": str(short_tmp)}
            await client.call_tool("start_process", arguments)
            listing = structured(await client.call_tool("list_processes", {}))
            resource = (await client.read_resource("process://sleeper")).contents[0]
            return tools, listing, getattr(resource, "text", "")

    async def over_stdio() -> dict[str, Any]:
        async with Shim(environment, short_tmp).session() as client:
            return structured(await client.call_tool("list_processes", {}))

    tools, listing, resource = run(over_http)
    assert tools == [tool.name for tool in TOOLS]
    assert run(over_stdio) == listing and listing["processes"][0]["state"] == "running"
    assert '"name":"sleeper"' in resource


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("host", "origin", "status"),
    [
        ("evil.example.com", None, 421),
        (None, "http://evil.example.com", 403),
        ("localhost:{port}", "http://localhost:{port}", 200),
    ],
)
def test_a_foreign_host_or_origin_is_refused_on_loopback(
    http_shim: HttpShim, host: str | None, origin: str | None, status: int
) -> None:
    """DNS rebinding: a web page whose name resolves to 127.0.0.1 sends its own Host and Origin."""
    headers = dict(POST_HEADERS)
    for name, value in (("Host", host), ("Origin", origin)):
        if value is not None:
            headers[name] = value.format(port=http_shim.port)
    answer = httpx2.post(http_shim.url, json=INITIALIZE, headers=headers, timeout=10)
    assert answer.status_code == status


@pytest.mark.timeout(60)
def test_a_non_loopback_address_without_a_token_is_refused_at_start(
    environment: dict[str, str], short_tmp: Path
) -> None:
    shim = HttpShim(environment, short_tmp, host="0.0.0.0")
    assert shim.popen.wait(timeout=20) == 2
    assert "PM_MCP_HTTP_TOKEN" in shim.log_path.read_text()


@pytest.mark.timeout(120)
def test_with_a_token_every_request_must_bear_it(environment: dict[str, str], short_tmp: Path) -> None:
    token = secrets.token_hex(16)
    shim = HttpShim(environment | {"PM_MCP_HTTP_TOKEN": token}, short_tmp, host="0.0.0.0")
    try:
        shim.wait_listening()
        refused = httpx2.post(shim.url, json=INITIALIZE, headers=POST_HEADERS, timeout=10)
        wrong = httpx2.post(
            shim.url, json=INITIALIZE, headers=POST_HEADERS | {"Authorization": "Bearer x" * 4}, timeout=10
        )

        async def with_token() -> dict[str, Any]:
            bearer = {"Authorization": f"Bearer {token}"}
            async with (
                create_mcp_http_client(headers=bearer) as http,
                Client(streamable_http_client(shim.url, http_client=http), mode="legacy") as client,
            ):
                return structured(await client.call_tool("list_processes", {}))

        listing = run(with_token)
    finally:
        assert shim.stop() == 0
    assert refused.status_code == 401 and wrong.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert listing == {"processes": []}


@pytest.mark.timeout(120)
def test_in_process_a_stopped_http_shim_stops_its_children_first(
    pm_environment: dict[str, str], short_tmp: Path
) -> None:
    """SIGTERM ends the server gracefully and then the actors: the child does not outlive it."""
    shim = HttpShim(pm_environment | {"PM_DAEMON_MODE": "disabled"}, short_tmp)
    try:
        shim.wait_listening()

        async def start_sleeper() -> int:
            async with Client(shim.url, mode="legacy") as client:
                arguments = {"name": "sleeper", "command": PYTHON, "args": ["-c", SLEEPER]}
                return int(structured(await client.call_tool("start_process", arguments))["pid"])

        pid = run(start_sleeper)
    finally:
        code = shim.stop()
    assert code == 0, shim.log_path.read_text()
    assert process_is_gone(pid), "the child was left behind"


@pytest.mark.timeout(120)
@pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")
def test_subscribers_of_both_revisions_hear_a_state_change_over_http(http_shim: HttpShim) -> None:
    """2025-11-25: resources/subscribe, the update on the session's GET stream; 2026-07-28: a
    subscriptions/listen stream."""
    received: list[Any] = []

    async def inbox(message: Any) -> None:
        received.append(message)

    async def legacy() -> None:
        async with Client(http_shim.url, mode="legacy", message_handler=inbox) as client:
            arguments = {"name": "napper", "command": PYTHON, "args": ["-c", SLEEPER]}
            await client.call_tool("start_process", arguments)
            await client.subscribe_resource("process://napper")
            await client.call_tool("wait_for", {"name": "napper", "until": "log_line", "pattern": "up"})
            await client.call_tool("kill_process", {"name": "napper"})
            await eventually(lambda: received, message="the update")

    async def modern() -> Any:
        async with Client(http_shim.url, mode="auto") as client:
            arguments = {"name": "napper", "command": PYTHON, "args": ["-c", SLEEPER]}
            await client.call_tool("start_process", arguments)
            async with client.listen(resource_subscriptions=["process://napper"]) as stream:
                await client.call_tool("kill_process", {"name": "napper"})
                async for event in stream:
                    return event

    run(legacy)
    assert [(type(message).__name__, message.params.uri) for message in received[:1]] == [
        ("ResourceUpdatedNotification", "process://napper")
    ]
    assert run(modern) == ResourceUpdated(uri="process://napper")
