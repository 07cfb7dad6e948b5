"""What the shim sends on its own: resource updates, list changes, log messages, progress, and
what it announces first (instructions, capabilities). A real MCP client against the shim over a
fake backend; the fake pushes the topics the daemon's event stream would report."""

from __future__ import annotations

import logging
import warnings
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPDeprecationWarning

from pm_actors import api
from pm_actors.mcp_shim import progress
from pm_actors.mcp_shim.server import INSTRUCTIONS
from tests.helpers import eventually
from tests.mcp_shim.fakes import FakeBackend, with_client

pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")
"""resources/subscribe and logging/setLevel are deprecated as of 2026-07-28: we test the
2025-11-25 revision, which has them, on purpose."""


class Inbox:
    """The notifications a client received, in order."""

    def __init__(self) -> None:
        self.received: list[Any] = []

    async def __call__(self, message: Any) -> None:
        self.received.append(message)

    def of(self, kind: type[Any]) -> list[Any]:
        return [message for message in self.received if isinstance(message, kind)]


def updated_uris(inbox: Inbox) -> list[str]:
    return [message.params.uri for message in inbox.of(types.ResourceUpdatedNotification)]


def test_a_subscribed_resource_is_announced_when_its_topic_changes_and_no_other() -> None:
    backend, inbox = FakeBackend(), Inbox()

    async def scenario(client: Client) -> None:
        await client.subscribe_resource("process://web")
        await client.subscribe_resource("logs://recent")
        # answered only once the daemon follows it: no change after the answer can be missed
        assert backend.topics == {api.Topic("state", "web"), api.Topic("output"), api.Topic("processes")}
        backend.push(api.Topic("state", "worker"))
        backend.push(api.Topic("state", "web"), api.Topic("output", "worker"))
        await eventually(lambda: len(updated_uris(inbox)) >= 2, message="two updates")
        assert sorted(updated_uris(inbox)) == ["logs://recent", "process://web"]

    with_client(backend, "legacy", scenario, message_handler=inbox)


def test_an_unsubscribed_resource_is_no_longer_followed() -> None:
    backend = FakeBackend()

    async def scenario(client: Client) -> None:
        await client.subscribe_resource("logs://web")
        await eventually(lambda: api.Topic("output", "web") in backend.topics, message="following logs://web")
        await client.unsubscribe_resource("logs://web")
        await eventually(lambda: not backend.topics, message="following nothing")

    with_client(backend, "legacy", scenario)


def test_processes_that_come_or_go_change_the_resource_list_of_a_subscriber() -> None:
    backend, inbox = FakeBackend(), Inbox()

    async def scenario(client: Client) -> None:
        await client.subscribe_resource("process://web")
        await eventually(lambda: backend.listener is not None, message="a subscription")
        backend.push(api.Topic("processes"))
        await eventually(lambda: inbox.of(types.ResourceListChangedNotification), message="list_changed")

    with_client(backend, "legacy", scenario, message_handler=inbox)


def test_a_listen_stream_of_the_new_revision_gets_its_updates_and_list_changes() -> None:
    backend = FakeBackend()

    async def scenario(client: Client) -> list[Any]:
        events: list[Any] = []
        async with client.listen(
            resource_subscriptions=["logs://web"], resources_list_changed=True
        ) as stream:
            assert api.Topic("output", "web") in backend.topics  # followed before the acknowledgement
            backend.push(api.Topic("output", "web"), api.Topic("processes"))
            async for event in stream:
                events.append(event)
                if len(events) == 2:
                    break
        await eventually(lambda: not backend.topics, message="the closed stream to be forgotten")
        return events

    events = with_client(backend, "auto", scenario)
    assert sorted(type(event).__name__ for event in events) == ["ResourceUpdated", "ResourcesListChanged"]


def test_the_shims_own_log_records_reach_the_client_at_the_level_it_chose() -> None:
    backend, messages = FakeBackend(), []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        messages.append((params.level, params.data))

    async def scenario(client: Client) -> None:
        await client.list_tools()  # the client is known to the shim from its first request
        logging.getLogger("pm_actors.ipc.session").warning("the daemon connection broke; retrying")
        await eventually(lambda: messages, message="a warning by default")
        await client.set_logging_level("error")
        logging.getLogger("pm_actors.ipc.session").warning("not sent any more")
        logging.getLogger("pm_actors.mcp_shim").error("sent: an error")
        await eventually(lambda: len(messages) == 2, message="the error")

    with_client(backend, "legacy", scenario, logging_callback=on_log)
    assert messages == [("warning", "the daemon connection broke; retrying"), ("error", "sent: an error")]


def test_wait_for_reports_progress_to_a_client_that_asked_for_it(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress, "PROGRESS_EVERY_S", 0.02)
    reports: list[tuple[float, float | None, str | None]] = []
    progressed = anyio.Event()

    class WaitingBackend(FakeBackend):
        async def call(self, request: api.RequestUnion) -> Any:
            if isinstance(request, api.WaitFor):
                await progressed.wait()  # answers only once the client has seen progress
            return await super().call(request)

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        reports.append((progress, total, message))
        progressed.set()

    async def scenario(client: Client) -> types.CallToolResult:
        arguments = {"name": "web", "until": "log_line", "pattern": "ready", "timeout_s": 60}
        return await client.call_tool("wait_for", arguments, progress_callback=on_progress)

    result = with_client(WaitingBackend(), mode, scenario)
    assert result.is_error is False
    value, total, message = reports[0]
    assert total == 60 and 0 < value <= 60 and message is not None and "web: log_line" in message


def test_a_quick_tool_sends_no_progress(mode: str) -> None:
    reports: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        reports.append(progress)

    async def scenario(client: Client) -> types.CallToolResult:
        return await client.call_tool("list_processes", {}, progress_callback=on_progress)

    assert with_client(FakeBackend(), mode, scenario).is_error is False
    assert reports == []


def test_the_handshake_announces_instructions_and_every_capability() -> None:
    async def scenario(client: Client) -> tuple[str | None, types.ServerCapabilities]:
        return client.instructions, client.server_capabilities

    instructions, capabilities = with_client(FakeBackend(), "legacy", scenario)
    assert instructions == INSTRUCTIONS and "wait_for" in INSTRUCTIONS and "search_logs" in INSTRUCTIONS
    assert capabilities.resources == types.ResourcesCapability(subscribe=True, list_changed=True)
    assert capabilities.prompts is not None and capabilities.completions is not None
    assert capabilities.logging is not None and capabilities.tools is not None


def test_the_new_revision_discovers_subscriptions_through_listen() -> None:
    async def scenario(client: Client) -> types.ServerCapabilities:
        return client.server_capabilities

    with warnings.catch_warnings():
        warnings.simplefilter("error", MCPDeprecationWarning)
        capabilities = with_client(FakeBackend(), "auto", scenario)
    assert capabilities.resources == types.ResourcesCapability(subscribe=True, list_changed=True)


def test_a_subscription_is_answered_only_once_the_daemon_follows_it() -> None:
    """Otherwise a change right after the answer could slip past the subscriber."""
    gate = anyio.Event()

    class SlowToSubscribe(FakeBackend):
        async def subscribe(self, topics: frozenset[api.Topic], listener: Any) -> None:
            await gate.wait()
            await super().subscribe(topics, listener)

    backend = SlowToSubscribe()

    async def scenario(client: Client) -> None:
        answered = anyio.Event()

        async def subscribe() -> None:
            await client.subscribe_resource("process://web")
            answered.set()

        async with anyio.create_task_group() as group:
            group.start_soon(subscribe)
            await client.list_tools()  # a round trip after the subscription was sent
            assert not answered.is_set()
            gate.set()
            await answered.wait()
        assert api.Topic("state", "web") in backend.topics

    with_client(backend, "legacy", scenario)
