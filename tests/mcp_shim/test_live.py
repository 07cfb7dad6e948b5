"""The MCP surface beyond tools against a real daemon and real children, through `pm-actors mcp`
over stdio with the `mcp` package's own client: resources read live state, subscriptions get
their updates (timing bounds are generous here; `bench/bench_mcp_updates.py` measures them),
prompts carry the facts of a live process, completions its name."""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Iterator
from typing import Any

import mcp_types as types
import pytest

from tests.helpers import PYTHON, eventually
from tests.mcp_shim.test_end_to_end import Shim, run, stop_daemon_if_any, structured

pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")

SLEEPER = "import time\nprint('up', flush=True)\ntime.sleep(120)"
BURST_LINES = 10_000
BURST = f"import time\nfor i in range({BURST_LINES}): print(f'burst line {{i}}')\ntime.sleep(120)"
CRASHER = """
import sys
print('starting', flush=True)
sys.stderr.write('Traceback (most recent call last):\\nValueError: boom\\n')
sys.exit(3)
"""


@pytest.fixture
def shim(pm_environment: dict[str, str], short_tmp: Any) -> Iterator[Shim]:
    environment = pm_environment | {"PM_DAEMON_MODE": "enabled"}
    yield Shim(environment, short_tmp)
    stop_daemon_if_any(environment)


class Inbox:
    def __init__(self) -> None:
        self.received: list[tuple[float, Any]] = []

    async def __call__(self, message: Any) -> None:
        self.received.append((time.time(), message))

    def updates(self, uri: str) -> list[float]:
        return [
            at
            for at, message in self.received
            if isinstance(message, types.ResourceUpdatedNotification) and message.params.uri == uri
        ]

    def list_changes(self) -> int:
        return sum(isinstance(message, types.ResourceListChangedNotification) for _, message in self.received)


def epoch(iso: str) -> float:
    return datetime.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


async def start(client: Any, name: str, code: str, **options: Any) -> dict[str, Any]:
    arguments = {"name": name, "command": PYTHON, "args": ["-u", "-c", code], "restart": "never", **options}
    return structured(await client.call_tool("start_process", arguments))


@pytest.mark.timeout(120)
def test_subscribers_hear_a_state_change_a_new_line_and_a_burst_in_a_few_updates(shim: Shim) -> None:
    inbox = Inbox()

    async def scenario() -> None:
        async with shim.session(message_handler=inbox) as client:
            await start(client, "sleeper", SLEEPER)
            await client.subscribe_resource("process://sleeper")
            await client.subscribe_resource("logs://burst")
            await client.call_tool("wait_for", {"name": "sleeper", "until": "log_line", "pattern": "up"})
            before = len(inbox.updates("process://sleeper"))
            killed = structured(await client.call_tool("kill_process", {"name": "sleeper"}))
            await eventually(lambda: len(inbox.updates("process://sleeper")) > before, message="the update")
            assert inbox.updates("process://sleeper")[-1] - epoch(killed["ended_at"]) < 2.0

            await start(client, "burst", BURST)
            await client.call_tool(
                "wait_for", {"name": "burst", "until": "log_line", "pattern": "burst line 9999"}
            )
            settled = time.monotonic() + 1.0  # the last window of the burst has passed
            await eventually(lambda: time.monotonic() > settled, timeout=5, interval=0.05)
            updates = len(inbox.updates("logs://burst"))
            assert 1 <= updates <= 30, f"{updates} updates for {BURST_LINES} lines"
            assert inbox.list_changes() >= 1  # burst came

    run(scenario)


@pytest.mark.timeout(120)
def test_every_resource_reads_live_state_as_json(shim: Shim) -> None:
    async def scenario() -> dict[str, Any]:
        async with shim.session() as client:
            await start(client, "sleeper", SLEEPER)
            await client.call_tool("wait_for", {"name": "sleeper", "until": "log_line", "pattern": "up"})
            listed = [resource.uri for resource in (await client.list_resources()).resources]
            assert {"process://sleeper", "logs://sleeper", "processes://list"} <= set(listed)
            documents = {}
            for uri in listed:
                (content,) = (await client.read_resource(uri)).contents
                assert (
                    isinstance(content, types.TextResourceContents)
                    and content.mime_type == "application/json"
                )
                documents[uri] = json.loads(content.text)
            return documents

    documents = run(scenario)
    assert documents["process://sleeper"]["state"] == "running"
    assert [line["text"] for line in documents["logs://sleeper"]["lines"]] == ["up"]
    assert documents["metrics://summary"]["processes"][0]["name"] == "sleeper"
    assert documents["logs://recent"]["processes"][0]["lines"][0]["text"] == "up"


@pytest.mark.timeout(120)
def test_a_prompt_carries_the_facts_of_a_live_process_and_its_name_completes(shim: Shim) -> None:
    async def scenario() -> tuple[str, list[str]]:
        async with shim.session() as client:
            await start(client, "crasher", CRASHER)
            await client.call_tool("wait_for", {"name": "crasher", "until": "exited"})
            prompt = await client.get_prompt("debug_process", {"name": "crasher"})
            content = prompt.messages[0].content
            assert isinstance(content, types.TextContent)
            completion = await client.complete(
                ref=types.PromptReference(name="debug_process"), argument={"name": "name", "value": "cr"}
            )
            return content.text, completion.completion.values

    text, names = run(scenario)
    assert "`crasher` is crashed" in text and "exit code 3" in text
    assert "ValueError: boom" in text and "starting" in text
    assert "crasher: unhandled_exception x1 in 1 run" in text  # the tracked error, counted
    assert names == ["crasher"]


@pytest.mark.timeout(120)
def test_a_crash_reads_as_one_error_through_the_tools_and_the_resource_which_announces_it(shim: Shim) -> None:
    inbox = Inbox()

    async def scenario() -> tuple[dict[str, Any], types.CallToolResult, dict[str, Any], dict[str, Any]]:
        async with shim.session(message_handler=inbox) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            for name in ("get_errors", "get_latest_errors", "mark_error_resolved"):
                assert tools[name].description and tools[name].output_schema
            annotations = tools["get_errors"].annotations
            assert annotations is not None and annotations.read_only_hint is True
            await client.subscribe_resource("errors://latest")
            await start(client, "crasher", CRASHER)
            ended = structured(await client.call_tool("wait_for", {"name": "crasher", "until": "exited"}))
            errors = await client.call_tool("get_errors", {"name": "crasher"})
            await eventually(lambda: inbox.updates("errors://latest"), message="the errors://latest update")
            (content,) = (await client.read_resource("errors://latest")).contents
            assert isinstance(content, types.TextResourceContents)
            error_id = structured(errors)["errors"][0]["id"]
            resolved = structured(await client.call_tool("mark_error_resolved", {"error_id": error_id}))
            return ended, errors, json.loads(content.text), resolved

    ended, errors, latest, resolved = run(scenario)
    assert ended["satisfied"] and ended["run"]["end_state"] == "crashed"
    assert ended["run"]["crash"] == "ValueError: boom"
    [error] = structured(errors)["errors"]
    assert (error["category"], error["message"], error["count"]) == (
        "unhandled_exception",
        "ValueError: boom",
        1,
    )
    text = errors.content[0]
    assert isinstance(text, types.TextContent) and "crasher: unhandled_exception x1" in text.text
    assert "    ValueError: boom" in text.text  # the trace, indented under its headline
    assert latest["unresolved"] == 1 and latest["by_process"] == {"crasher": 1}
    assert resolved["resolved"] is True


ECHO = "import sys\nprint('ready', flush=True)\nfor line in sys.stdin: print('got', line.strip(), flush=True)"


@pytest.mark.timeout(120)
def test_input_sent_through_mcp_reaches_the_process_and_its_transcript(shim: Shim) -> None:
    async def scenario() -> tuple[dict[str, Any], dict[str, Any], str]:
        async with shim.session() as client:
            await start(client, "echo", ECHO, stdin=True)
            await client.call_tool("wait_for", {"name": "echo", "until": "log_line", "pattern": "ready"})
            sent = structured(await client.call_tool("send_input", {"name": "echo", "text": "hello\n"}))
            await client.call_tool("wait_for", {"name": "echo", "until": "log_line", "pattern": "got hello"})
            tail = structured(await client.call_tool("tail_logs", {"name": "echo"}))
            await start(client, "deaf", SLEEPER)
            refused = await client.call_tool("send_input", {"name": "deaf", "text": "y\n"})
            assert refused.is_error is True and isinstance(refused.content[0], types.TextContent)
            return sent, tail, refused.content[0].text

    sent, tail, refusal = run(scenario)
    assert sent == {"name": "echo", "bytes_sent": 6, "bytes_given": 6, "eof": False}
    assert [(line["stream"], line["text"]) for line in tail["lines"]] == [
        ("stdout", "ready"),
        ("stdin", "hello"),
        ("stdout", "got hello"),
    ]
    assert refusal.startswith("invalid_argument:") and "stdin: true" in refusal
