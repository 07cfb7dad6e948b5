"""The event hub, the record board that publishes to it, and what clear_logs publishes."""

from __future__ import annotations

import msgspec
import pytest

from pm_actors.actors.events import EventHub
from pm_actors.actors.records import RecordBoard
from pm_actors.api import ClearLogs, Topic
from pm_actors.states import Health, ProcessState
from tests.actors.system_client import SystemClient
from tests.mcp_shim.samples import RUNNING


def heard(hub: EventHub, *topics: Topic) -> list[Topic]:
    received: list[Topic] = []
    hub.subscribe(received.append).set_topics(frozenset(topics))
    return received


def test_a_subscriber_hears_its_topics_and_a_nameless_topic_hears_every_process() -> None:
    hub = EventHub()
    web = heard(hub, Topic("state", "web"))
    everyone = heard(hub, Topic("output"))
    for topic in (Topic("state", "web"), Topic("state", "api"), Topic("output", "api"), Topic("processes")):
        hub.publish(topic)
    assert web == [Topic("state", "web")]
    assert everyone == [Topic("output", "api")]


def test_topics_are_replaced_and_a_closed_subscription_hears_nothing() -> None:
    hub = EventHub()
    received: list[Topic] = []
    subscription = hub.subscribe(received.append)
    subscription.set_topics(frozenset({Topic("processes")}))
    hub.publish(Topic("processes"))
    subscription.set_topics(frozenset({Topic("state", "web")}))
    hub.publish(Topic("processes"))
    hub.publish(Topic("state", "web"))
    subscription.close()
    hub.publish(Topic("state", "web"))
    assert received == [Topic("processes"), Topic("state", "web")]


def test_a_failing_subscriber_is_logged_and_the_others_still_hear(caplog: pytest.LogCaptureFixture) -> None:
    hub = EventHub()

    def broken(topic: Topic) -> None:
        raise RuntimeError("a bug in a subscriber")

    hub.subscribe(broken).set_topics(frozenset({Topic("processes")}))
    others = heard(hub, Topic("processes"))
    hub.publish(Topic("processes"))
    assert others == [Topic("processes")]
    assert "an event subscriber failed" in caplog.text


def test_committed_output_is_published_under_the_processes_name_once_it_is_known() -> None:
    hub = EventHub()
    received = heard(hub, Topic("output"))
    hub.output_committed(7)
    hub.name_process(7, "web")
    hub.output_committed(7)
    hub.forget_process(7)
    hub.output_committed(7)
    assert received == [Topic("output", "web")]


def test_the_board_publishes_a_changed_record_and_processes_that_come_and_go() -> None:
    hub = EventHub()
    received = heard(hub, Topic("state"), Topic("processes"))
    board = RecordBoard(hub)
    board.publish(RUNNING)
    board.publish(RUNNING)  # the same record again: nothing changed
    board.publish(msgspec.structs.replace(RUNNING, health=Health.UNHEALTHY))
    board.publish(msgspec.structs.replace(RUNNING, name="api", state=ProcessState.STOPPED))
    board.remove("web")
    board.remove("web")
    assert received == [
        Topic("state", "web"),
        Topic("processes"),
        Topic("state", "web"),
        Topic("state", "api"),
        Topic("processes"),
        Topic("state", "web"),
        Topic("processes"),
    ]


def test_clearing_logs_announces_the_output_of_every_process_it_cleared(client: SystemClient) -> None:
    for name in ("web", "api"):
        client.start(name, f"print('{name} says hello')")
        client.wait_for_state(name, ProcessState.EXITED)
    received = heard(client.system.events, Topic("output"))

    assert client.call(ClearLogs(name="web")).lines_deleted == 1
    assert received == [Topic("output", "web")]
    assert client.call(ClearLogs()).lines_deleted == 1
    assert sorted(topic.name or "" for topic in received[1:]) == ["api", "web"]
