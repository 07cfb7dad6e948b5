"""The whole product through the `mcp` package's own stdio client: `pm-actors mcp` launched as an
MCP client would, with a private temp dir, socket, token and database, in both daemon modes.

With PM_DAEMON_MODE=enabled the shim auto-starts a detached daemon that outlives the session;
with `disabled` the same tools run inside the shim and its processes die with it.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import anyio
import mcp_types as types
import psutil
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from pm_actors import request_base
from pm_actors.config import load_config
from tests.helpers import PYTHON, process_is_gone, wait_until

T = TypeVar("T")

SESSION_DEADLINE_S = 60
LINE_COUNT = 2000
PRINTER = f"for i in range({LINE_COUNT}): print(f'line {{i:04d}}')\nprint('zanzibar-unique-word')"
SLEEPER = "import time\nprint('up', flush=True)\ntime.sleep(120)"


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    async def bounded() -> T:
        with anyio.fail_after(SESSION_DEADLINE_S):
            return await scenario()

    return anyio.run(bounded)


class Shim:
    """Launches `pm-actors mcp` the way an MCP client does, with every PM_* variable passed."""

    def __init__(self, environment: dict[str, str], working_directory: Path) -> None:
        self.parameters = StdioServerParameters(
            command=PYTHON,
            args=["-m", "pm_actors", "mcp"],
            env=environment,
            cwd=str(working_directory),
        )
        self.errlog_path = working_directory / "shim.err"

    def session(self, **client_options: Any) -> Any:
        errlog = self.errlog_path.open("a")
        return Client(stdio_client(self.parameters, errlog=errlog), mode="legacy", **client_options)


def structured(result: types.CallToolResult) -> dict[str, Any]:
    assert result.is_error is False, result.content
    assert isinstance(result.structured_content, dict)
    return result.structured_content


def error_text(result: types.CallToolResult) -> str:
    assert result.is_error is True
    content = result.content[0]
    assert isinstance(content, types.TextContent)
    return content.text


async def wait_for_state(client: Any, name: str, state: str) -> dict[str, Any]:
    with anyio.fail_after(20):
        while True:
            listing = structured(await client.call_tool("list_processes", {}))
            record = next(record for record in listing["processes"] if record["name"] == name)
            if record["state"] == state:
                return dict(record)
            await anyio.sleep(0.01)  # polling the daemon, bounded by fail_after above


async def all_lines(client: Any, name: str) -> list[str]:
    lines: list[str] = []
    after_id = 0
    while True:
        page = structured(
            await client.call_tool("get_logs", {"name": name, "after_id": after_id, "limit": 500})
        )
        lines.extend(line["text"] for line in page["lines"])
        after_id = page["next_after_id"]
        if not page["has_more"]:
            return lines


@pytest.fixture(params=["enabled", "disabled"])
def daemon_mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def shim(pm_environment: dict[str, str], short_tmp: Path, daemon_mode: str) -> Iterator[Shim]:
    environment = pm_environment | {"PM_DAEMON_MODE": daemon_mode}
    yield Shim(environment, short_tmp)
    stop_daemon_if_any(environment)


def daemon_pid(environment: dict[str, str]) -> int | None:
    lock_path = load_config(environment).lock_path
    try:
        text = lock_path.read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text else None


def stop_daemon_if_any(environment: dict[str, str]) -> None:
    pid = daemon_pid(environment)
    if pid is None or process_is_gone(pid):
        return
    daemon = psutil.Process(pid)
    if "pm_actors" not in " ".join(daemon.cmdline()):
        return
    daemon.send_signal(signal.SIGTERM)
    # A daemon the shim started stays the shim's zombie until the shim reaps it: ended all the same.
    wait_until(lambda: process_is_gone(pid), timeout=30, message=f"daemon {pid} to exit")


@pytest.mark.timeout(90)
def test_an_mcp_session_runs_the_whole_lifecycle_of_a_process(shim: Shim) -> None:
    async def scenario() -> None:
        async with shim.session() as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            assert {"start_process", "stop_process", "get_logs", "search_logs", "delete_process"} <= set(
                tools
            )
            assert tools["start_process"].input_schema["type"] == "object"
            assert tools["list_processes"].output_schema["type"] == "object"

            started = structured(
                await client.call_tool(
                    "start_process", {"name": "printer", "command": PYTHON, "args": ["-c", PRINTER]}
                )
            )
            assert started["state"] == "running" and started["cwd"] == str(Path(shim.errlog_path).parent)
            await wait_for_state(client, "printer", "exited")
            assert await all_lines(client, "printer") == [f"line {i:04d}" for i in range(LINE_COUNT)] + [
                "zanzibar-unique-word"
            ]
            found = structured(await client.call_tool("search_logs", {"query": "zanzibar-unique-word"}))
            assert [match["text"] for match in found["matches"]] == ["zanzibar-unique-word"]
            tail = structured(await client.call_tool("tail_logs", {"name": "printer", "limit": 2}))
            assert [line["text"] for line in tail["lines"]] == ["line 1999", "zanzibar-unique-word"]

            sleeper = structured(
                await client.call_tool(
                    "start_process", {"name": "sleeper", "command": PYTHON, "args": ["-c", SLEEPER]}
                )
            )
            stopped = structured(await client.call_tool("stop_process", {"name": "sleeper"}))
            assert stopped["state"] == "stopped" and stopped["pid"] is None
            wait_until(lambda: process_is_gone(sleeper["pid"]), message="the stopped child to be reaped")

            deleted = structured(await client.call_tool("delete_process", {"name": "printer"}))
            assert deleted == {"name": "printer", "deleted": True, "lines_deleted": LINE_COUNT + 1}

    run(scenario)


@pytest.mark.timeout(90)
def test_bad_requests_are_error_results_with_a_reason_and_the_session_goes_on(shim: Shim) -> None:
    async def scenario() -> None:
        async with shim.session() as client:
            outside = await client.call_tool("start_process", {"name": "x", "command": "/sbin/ldconfig"})
            assert error_text(outside).startswith("forbidden_command:")
            launcher = await client.call_tool(
                "start_process", {"name": "x", "command": "env", "args": ["python3"]}
            )
            assert "denied" in error_text(launcher)
            unknown = await client.call_tool("stop_process", {"name": "ghost"})
            assert error_text(unknown).startswith("not_found:") and "'ghost'" in error_text(unknown)
            invalid = await client.call_tool("get_logs", {"name": "bad name!"})
            assert error_text(invalid).startswith("invalid_argument:") and "`name`" in error_text(invalid)
            missing = await client.call_tool("start_process", {"name": "x", "command": "no-such-program-pm"})
            assert error_text(missing).startswith("not_found:")
            assert "Traceback" not in error_text(missing)
            listing = structured(await client.call_tool("list_processes", {}))
            assert listing == {"processes": []}

    run(scenario)


@pytest.mark.timeout(90)
def test_a_symlink_that_escapes_the_allowed_root_is_refused(
    pm_environment: dict[str, str], short_tmp: Path, daemon_mode: str
) -> None:
    allowed_root = short_tmp / "allowed"
    allowed_root.mkdir()
    (allowed_root / "python").symlink_to(os.path.realpath(sys.executable))
    environment = pm_environment | {"PM_DAEMON_MODE": daemon_mode, "PM_ALLOWED_COMMANDS": str(allowed_root)}
    shim = Shim(environment, short_tmp)

    async def scenario() -> str:
        async with shim.session() as client:
            result = await client.call_tool(
                "start_process", {"name": "x", "command": str(allowed_root / "python")}
            )
            return error_text(result)

    try:
        message = run(scenario)
    finally:
        stop_daemon_if_any(environment)
    assert message.startswith("forbidden_command:") and "outside the allowed roots" in message


@pytest.mark.timeout(90)
def test_processes_outlive_the_session_with_a_daemon_and_die_with_the_shim_without_one(
    shim: Shim, daemon_mode: str
) -> None:
    async def start_sleeper() -> int:
        async with shim.session() as client:
            record = structured(
                await client.call_tool(
                    "start_process", {"name": "keeper", "command": PYTHON, "args": ["-c", SLEEPER]}
                )
            )
            return int(record["pid"])

    pid = run(start_sleeper)
    if daemon_mode == "disabled":
        wait_until(lambda: process_is_gone(pid), message="the child to die with the in-process shim")
        return
    assert not process_is_gone(pid), "the child must outlive the MCP session"
    first_daemon = daemon_pid(shim.parameters.env or {})
    assert first_daemon is not None and not process_is_gone(first_daemon)

    async def list_again() -> dict[str, Any]:
        async with shim.session() as client:
            listing = structured(await client.call_tool("list_processes", {}))
            return next(record for record in listing["processes"] if record["name"] == "keeper")

    record = run(list_again)
    assert record["state"] == "running" and record["pid"] == pid
    assert daemon_pid(shim.parameters.env or {}) == first_daemon, "the second session reused the daemon"
    stop_daemon_if_any(shim.parameters.env or {})
    assert process_is_gone(pid), "stopping the daemon stops its children"


@pytest.mark.timeout(90)
def test_the_shim_reconnects_to_a_new_daemon_after_the_daemon_was_stopped(
    pm_environment: dict[str, str], short_tmp: Path
) -> None:
    environment = pm_environment | {"PM_DAEMON_MODE": "enabled"}
    shim = Shim(environment, short_tmp)

    async def scenario() -> tuple[int | None, int | None]:
        async with shim.session() as client:
            structured(await client.call_tool("list_processes", {}))
            first = daemon_pid(environment)
            stop_daemon_if_any(environment)
            listing = structured(await client.call_tool("list_processes", {}))
            assert listing == {"processes": []}
            return first, daemon_pid(environment)

    try:
        first, second = run(scenario)
    finally:
        stop_daemon_if_any(environment)
    assert first is not None and second is not None and first != second


SERVER = """
import http.server, sys, threading
server = http.server.HTTPServer(('127.0.0.1', 0), http.server.SimpleHTTPRequestHandler)
print('READY on', server.server_address[1], flush=True)
server.serve_forever()
"""


@pytest.mark.timeout(90)
def test_supervision_tools_answer_with_schema_valid_results(shim: Shim) -> None:
    async def scenario() -> None:
        async with shim.session() as client:
            structured(
                await client.call_tool(
                    "start_process",
                    {
                        "name": "web",
                        "command": PYTHON,
                        "args": ["-c", SERVER],
                        "restart": "always",
                        "backoff": {"initial_s": 0.5, "fatal_retry_s": 60},
                        "limits": {"max_memory_mb": 500, "window_s": 5},
                        "health_check": {"type": "command", "command": PYTHON, "args": ["-c", "pass"]},
                    },
                )
            )
            ready = structured(
                await client.call_tool(
                    "wait_for", {"name": "web", "until": "log_line", "pattern": r"READY on \d+"}
                )
            )
            assert ready["satisfied"] is True and ready["matched_line"]["text"].startswith("READY on")
            port = int(ready["matched_line"]["text"].split()[-1])
            listening = structured(
                await client.call_tool("wait_for", {"name": "web", "until": "port", "port": port})
            )
            assert listening["port"] == port
            health = structured(await client.call_tool("check_process_health", {"name": "web"}))
            assert health["healthy"] is True
            info = structured(await client.call_tool("get_process_info", {"name": "web"}))
            assert info["restart"] == "always" and info["health_check"]["type"] == "command"
            assert port in info["listening_ports"] and info["limits"]["max_memory_mb"] == 500
            stats = structured(await client.call_tool("get_process_stats", {"name": "web"}))
            assert stats["rss_mb"] > 0 and port in stats["listening_ports"]
            system = structured(await client.call_tool("get_system_stats", {}))
            assert system["running_processes"] == 1
            restarted = structured(
                await client.call_tool("restart_process", {"name": "web", "env": {"A": "1"}})
            )
            assert restarted["changed"] == ["env"]
            structured(await client.call_tool("stop_process", {"name": "web"}))

    run(scenario)


BIG_LINE_CHARS = 2_000_000
NOISY = (
    f"import sys\nsys.stdout.write('x' * {BIG_LINE_CHARS} + '\\n')\n"
    "print('\\x1b[31mERROR\\x1b[0m ConnectionRefusedError: db down')\nprint('TypeError: bad operand')"
)


def text_of(result: types.CallToolResult) -> str:
    content = result.content[0]
    assert isinstance(content, types.TextContent)
    return content.text


@pytest.mark.timeout(90)
def test_output_reaches_the_model_within_its_budget_found_by_a_word_inside_identifiers(shim: Shim) -> None:
    async def scenario() -> None:
        async with shim.session() as client:
            structured(
                await client.call_tool(
                    "start_process", {"name": "noisy", "command": PYTHON, "args": ["-c", NOISY]}
                )
            )
            await wait_for_state(client, "noisy", "exited")

            page = await client.call_tool("get_logs", {"name": "noisy"})
            lines = structured(page)["lines"]
            assert len(text_of(page)) < request_base.DEFAULT_MAX_CHARS + 1_000
            assert sum(len(line["text"]) for line in lines) <= request_base.DEFAULT_MAX_CHARS
            assert lines[0]["cut"] > 60_000 and "chars cut; whole line: get_logs name=noisy" in text_of(page)

            found = await client.call_tool("search_logs", {"query": "Error"})
            assert [match["text"] for match in structured(found)["matches"]] == [
                "TypeError: bad operand",
                "ERROR ConnectionRefusedError: db down",
            ]
            assert "\x1b" not in text_of(found) and "run " in text_of(found)

            cleared = await client.call_tool("clear_logs", {"name": "noisy"})
            assert structured(cleared)["lines_deleted"] == BIG_LINE_CHARS // (64 * 1024) + 1 + 2
            assert "Deleted" in text_of(cleared)
            assert structured(await client.call_tool("get_logs", {"name": "noisy"}))["lines"] == []

    run(scenario)


@pytest.mark.timeout(90)
def test_one_call_declares_a_stack_that_starts_in_order_and_stops_in_reverse(shim: Shim) -> None:
    """Inline members run in the shim's working directory; each answer's text renders it all."""
    server = "import os, time\nprint('ready in', os.getcwd(), flush=True)\ntime.sleep(60)"
    members = [
        {
            "name": "db",
            "command": PYTHON,
            "args": ["-c", server],
            "ready": {"until": "log_line", "pattern": "ready"},
        },
        {"name": "migrate", "command": PYTHON, "args": ["-c", "print('done')"], "ready": {"until": "exited"}},
        {"name": "web", "command": PYTHON, "args": ["-c", server]},
    ]

    async def scenario() -> None:
        async with shim.session() as client:
            created = structured(
                await client.call_tool("create_group", {"name": "stack", "members": members})
            )
            assert [(m["name"], m["order"], m["state"]) for m in created["members"]] == [
                ("db", 0, "stopped"),
                ("migrate", 1, "stopped"),
                ("web", 2, "stopped"),
            ]
            result = await client.call_tool("start_group", {"group": "stack"})
            started = structured(result)
            assert started["ok"] is True
            assert started["members"][0]["detail"] == f"line: ready in {shim.errlog_path.parent}"
            text = result.content[0]
            assert isinstance(text, types.TextContent) and "group stack started in" in text.text
            listing = structured(await client.call_tool("list_groups", {}))
            assert listing["groups"][0]["status"] == "running"
            stopped = structured(await client.call_tool("stop_group", {"group": "stack"}))
            assert [m["name"] for m in stopped["members"]] == ["web", "migrate", "db"]
            again = structured(await client.call_tool("start_process", {"name": "db"}))
            assert again["state"] == "running" and again["dropped"] == []
            deleted = structured(
                await client.call_tool("delete_group", {"group": "stack", "stop_members": True})
            )
            assert deleted["stopped"]["members"][0]["state"] == "stopped"

    run(scenario)
