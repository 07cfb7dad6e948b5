"""The push stream on the socket: a real `IpcServer` fed by a real `EventHub`, real clients.

Events are published from a plain thread, as the actors and the writer do.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Callable

import pytest

from pm_actors.actors.events import EventHub
from pm_actors.api import ListProcesses, Topic
from pm_actors.config import Config
from pm_actors.errors import DaemonUnavailable, InvalidArgument
from pm_actors.ipc import subscriptions
from pm_actors.ipc.client import DaemonClient
from pm_actors.ipc.protocol import ErrorFrame, EventFrame, ResponseFrame, SubscribeFrame, Welcome
from pm_actors.ipc.session import ClientSession
from pm_actors.results import ProcessList
from tests.helpers import eventually
from tests.ipc.support import FakeActors, RawPeer, run, running_server

WEB_STATE = Topic("state", "web")


class Frames:
    """The topics of every event frame a client received, one list per frame."""

    def __init__(self) -> None:
        self.frames: list[list[Topic]] = []

    def __call__(self, topics: list[Topic]) -> None:
        self.frames.append(topics)

    def topics(self) -> list[Topic]:
        return [topic for frame in self.frames for topic in frame]


def publish_from_a_thread(publish: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=publish, name="publisher")
    thread.start()
    return thread


def test_a_client_hears_the_topics_it_subscribed_to_and_no_others(config: Config, actors: FakeActors) -> None:
    hub, frames = EventHub(), Frames()

    async def scenario() -> None:
        async with running_server(config, actors, events=hub), await DaemonClient.connect(config) as client:
            await client.subscribe(frozenset({WEB_STATE, Topic("output")}), frames)
            for topic in (Topic("state", "api"), WEB_STATE, Topic("output", "api")):
                publish_from_a_thread(functools.partial(hub.publish, topic)).join()
            await eventually(lambda: len(frames.topics()) == 2, message="two topics")
            assert sorted(frames.topics(), key=str) == sorted([WEB_STATE, Topic("output", "api")], key=str)
            assert await client.call(ListProcesses()) == ProcessList(processes=[])  # calls go on

    run(scenario())


def test_a_burst_of_changes_arrives_coalesced_in_a_handful_of_frames(
    config: Config, actors: FakeActors
) -> None:
    """10,000 commits of one process's output within about a second: one topic, a frame per
    100 ms window at most, the first one at once."""
    hub, frames = EventHub(), Frames()
    hub.name_process(1, "web")

    def burst() -> None:
        for index in range(10_000):
            hub.output_committed(1)
            if index % 1000 == 0:
                time.sleep(0.05)  # the pace of a real flood's commits, not a wait for an effect

    async def scenario() -> float:
        async with running_server(config, actors, events=hub), await DaemonClient.connect(config) as client:
            await client.subscribe(frozenset({Topic("output", "web")}), frames)
            started = time.monotonic()
            thread = publish_from_a_thread(burst)
            await eventually(lambda: frames.frames, message="the first frame")
            first_after = time.monotonic() - started
            await asyncio.to_thread(thread.join)
            count = len(frames.frames)
            await eventually(
                lambda: len(frames.frames) > count or time.monotonic() - started > 1.5, timeout=5
            )
            return first_after

    first_after = run(scenario())
    assert set(frames.topics()) == {Topic("output", "web")}
    assert 1 <= len(frames.frames) <= 20, f"{len(frames.frames)} frames for 10,000 changes"
    assert first_after < 1.0, "the first change of a burst goes out at once"


def test_a_new_subscribe_replaces_the_topics_and_an_empty_one_ends_them(
    config: Config, actors: FakeActors
) -> None:
    hub, frames = EventHub(), Frames()

    async def scenario() -> None:
        async with running_server(config, actors, events=hub), await DaemonClient.connect(config) as client:
            await client.subscribe(frozenset({Topic("processes")}), frames)
            await client.subscribe(frozenset({WEB_STATE}), frames)
            hub.publish(Topic("processes"))
            hub.publish(WEB_STATE)
            await eventually(lambda: frames.frames, message="a frame")
            await client.subscribe(frozenset(), frames)
            hub.publish(WEB_STATE)
            await client.call(ListProcesses())  # a round trip after the publish: no frame came
            assert frames.topics() == [WEB_STATE]

    run(scenario())


def test_a_server_without_an_event_stream_refuses_a_subscription(config: Config, actors: FakeActors) -> None:
    async def scenario() -> None:
        async with running_server(config, actors), await DaemonClient.connect(config) as client:
            with pytest.raises(InvalidArgument, match="no event stream"):
                await client.subscribe(frozenset({WEB_STATE}), Frames())

    run(scenario())


def test_a_client_that_stops_reading_is_dropped_with_the_reason_and_nobody_waits(
    config: Config, actors: FakeActors, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Frames of thousands of topics fill the socket of a client that never reads; it is cut off
    once one frame waits longer than the send timeout. The publisher never waits, and another
    client is served meanwhile."""
    monkeypatch.setattr(subscriptions, "EVENT_SEND_TIMEOUT_S", 0.3)
    hub = EventHub()
    names = [f"process-number-{index:05d}" for index in range(5000)]

    def flood(stop: threading.Event) -> None:
        while not stop.is_set():
            started = time.monotonic()
            for name in names:
                hub.publish(Topic("state", name))
            assert time.monotonic() - started < 2.0, "publishing must never wait for a client"
            stop.wait(0.02)

    async def scenario() -> ErrorFrame:
        async with running_server(config, actors, events=hub):
            silent = await RawPeer.open(config)
            assert isinstance(await silent.hello(config.daemon_token or ""), Welcome)
            await silent.send(SubscribeFrame(id=1, topics=frozenset({Topic("state")})))
            stop = threading.Event()
            thread = publish_from_a_thread(lambda: flood(stop))
            try:
                async with await DaemonClient.connect(config) as other:
                    while "took no event frame" not in caplog.text:  # the server logs the drop
                        assert await other.call(ListProcesses()) == ProcessList(processes=[])
                        await asyncio.sleep(0.01)
                return await last_frame_before_the_end(silent)
            finally:
                stop.set()
                await asyncio.to_thread(thread.join)

    refusal = run(scenario())
    assert "dropped" in refusal.message and "took no event frame" in refusal.message


async def last_frame_before_the_end(peer: RawPeer) -> ErrorFrame:
    """Read everything the server sent until it closed; the last frame must say why."""
    last: object = None
    while True:
        try:
            frame = await peer.receive()
        except ConnectionError:
            break
        if frame is None:
            break
        assert isinstance(frame, EventFrame | ResponseFrame | ErrorFrame), frame
        last = frame
    assert isinstance(last, ErrorFrame), last
    return last


def test_a_session_subscribes_again_on_the_next_daemon(config: Config, actors: FakeActors) -> None:
    """The daemon restarts: the session reconnects in the background and follows the same topics."""
    frames = Frames()

    async def open_backend() -> DaemonClient:
        return await DaemonClient.connect(config)

    async def scenario() -> None:
        session = ClientSession(open_backend, "/")
        try:
            for attempt in range(2):
                hub = EventHub()
                async with running_server(config, actors, events=hub):
                    session.subscribe(frozenset({WEB_STATE}), frames)

                    def delivered(hub: EventHub = hub, expected: int = attempt + 1) -> bool:
                        hub.publish(WEB_STATE)  # published until the new subscription hears it
                        return len(frames.frames) >= expected

                    await eventually(delivered, timeout=10, interval=0.05, message="an event on this daemon")
        finally:
            await session.close()
        with pytest.raises(DaemonUnavailable):
            await session.call(ListProcesses())

    run(scenario())
