"""The push stream, per connection: which topics a client wants, and its event frames.

The daemon's events come from one place (the actors' event hub, behind the `EventSource`
protocol below, so this package imports no actor). A connection that sent a `SubscribeFrame`
gets an `EventFrame` naming the subscribed topics that changed:

- coalesced: changes gather in a set, and a connection gets at most one frame per
  `COALESCE_WINDOW_S`. The first change after a quiet spell goes out at once, so an update is
  fast, and a burst of 10,000 lines is a handful of frames, not 10,000;
- bounded: what waits for a client is that set (one entry per topic, however many changes),
  and a client that does not take a frame within `EVENT_SEND_TIMEOUT_S` is dropped with the
  reason, in the log and in a last error frame. The actors only ever add to a set: a slow
  client never blocks the daemon.

`TopicBatcher` is the coalescing part, also used by the in-process backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

from pm_actors.api import Topic
from pm_actors.errors import ErrorCode

from .protocol import ErrorFrame, ErrorInfo, EventFrame, Frame, ResponseFrame, SubscribeFrame, encode_frame

logger = logging.getLogger(__name__)

COALESCE_WINDOW_S = 0.1
"""At most one event frame per connection per window: a client re-reads what changed, so
more often than ten times a second only costs it reads, and a single change still arrives at once."""

EVENT_SEND_TIMEOUT_S = 5.0
"""A client that has not taken an event frame after this is not reading: it is dropped, so it
holds neither memory nor a connection slot."""

TopicListener = Callable[[Topic], None]


class EventSubscription(Protocol):
    def set_topics(self, topics: frozenset[Topic]) -> None:
        """From now on, report changes of these topics (a topic whose name is None: of every process)."""
        ...

    def close(self) -> None: ...


class EventSource(Protocol):
    """Where the daemon's events come from (`actors.events.EventHub`)."""

    def subscribe(self, listener: TopicListener) -> EventSubscription:
        """`listener` is called, on any thread and without blocking, with each topic that changed."""
        ...


class TopicBatcher:
    """Gathers changed topics from any thread; hands them to `deliver` on the event loop, at
    most once per window. `run()` is the task that delivers; it ends when `deliver` raises."""

    def __init__(
        self, deliver: Callable[[list[Topic]], Awaitable[None]], window_s: float = COALESCE_WINDOW_S
    ):
        self._deliver = deliver
        self._window_s = window_s
        self._loop = asyncio.get_running_loop()
        self._lock = threading.Lock()
        self._pending: set[Topic] = set()
        self._ready = asyncio.Event()

    def notify(self, topic: Topic) -> None:
        """Any thread: note that `topic` changed; only the first note of a batch wakes the loop."""
        with self._lock:
            first = not self._pending
            self._pending.add(topic)
        if first:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody to tell
                self._loop.call_soon_threadsafe(self._ready.set)

    async def run(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            with self._lock:
                topics, self._pending = self._pending, set()
            if topics:
                await self._deliver(sorted(topics, key=lambda topic: (topic.kind, topic.name or "")))
                await asyncio.sleep(self._window_s)


class ConnectionEvents:
    """The push stream of one connection: its subscription, and the task sending its frames."""

    def __init__(
        self,
        source: EventSource | None,
        send: Callable[[Frame], Awaitable[None]],
        writer: asyncio.StreamWriter,
        spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]],
        peer: str,
    ) -> None:
        self._source = source
        self._send = send
        self._writer = writer
        self._spawn = spawn
        self._peer = peer
        self._subscription: EventSubscription | None = None
        self._sender: asyncio.Task[None] | None = None

    def subscribe(self, frame: SubscribeFrame) -> ResponseFrame:
        """Take the client's topics (replacing earlier ones) and answer its frame."""
        if self._source is None:
            refusal = ErrorInfo(
                code=ErrorCode.INVALID_ARGUMENT.value, message="this server has no event stream"
            )
            return ResponseFrame(id=frame.id, error=refusal)
        if self._subscription is None:
            batcher = TopicBatcher(self._send_event)
            self._subscription = self._source.subscribe(batcher.notify)
            self._sender = self._spawn(self._stream(batcher))
        self._subscription.set_topics(frame.topics)
        logger.debug("%s subscribed to %d topics", self._peer, len(frame.topics))
        return ResponseFrame(id=frame.id)

    def close(self) -> None:
        if self._subscription is not None:
            self._subscription.close()
        if self._sender is not None:
            self._sender.cancel()

    async def _stream(self, batcher: TopicBatcher) -> None:
        with contextlib.suppress(ConnectionError, SlowClient):
            await batcher.run()

    async def _send_event(self, topics: list[Topic]) -> None:
        try:
            async with asyncio.timeout(EVENT_SEND_TIMEOUT_S):
                await self._send(EventFrame(topics=topics))
        except TimeoutError:
            self._drop(
                f"dropped: it took no event frame for {EVENT_SEND_TIMEOUT_S:g} s (a client must keep reading)"
            )
            raise SlowClient from None

    def _drop(self, reason: str) -> None:
        """End the connection of a client that stopped reading. The reason goes to the log, and
        into its buffer as a last frame (written whole, so it cannot split another): if it reads
        again before the connection is cut, it learns why."""
        logger.warning("%s %s", self._peer, reason)
        self._writer.write(encode_frame(ErrorFrame(code=ErrorCode.PROTOCOL_ERROR.value, message=reason)))
        self._writer.close()


class SlowClient(Exception):
    """The client stopped taking its event frames."""
