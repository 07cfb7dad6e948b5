"""The one place the daemon's events come from: which topic changed, as it happens.

Two sources publish here: the `RecordBoard`, on every change of a process's record (its
state, pid, health, restarts) and when a process is added or deleted; and the writer, once a
batch of a process's output lines is stored (through the pipe reader's commit callback), once
clear_logs has deleted some (through the supervisor's answer), and once its errors changed.
Subscribers (one per subscribed client connection, `ipc/subscriptions.py`) are told each topic
they asked for; a subscription to `Topic(kind)` (no name) hears that kind for every process.

Publishing runs on the publisher's thread (an actor, the writer) and must never wait: a
subscriber only adds the topic to a set and wakes its event loop. No data travels here, only
the news that something changed; a client reads the data with an ordinary request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from pm_actors.api import Topic

logger = logging.getLogger(__name__)

TopicListener = Callable[[Topic], None]


class HubSubscription:
    """One subscriber and its topics; `set_topics` and `close` may be called from any thread."""

    def __init__(self, hub: EventHub, listener: TopicListener) -> None:
        self._hub = hub
        self.listener = listener
        self.topics: frozenset[Topic] = frozenset()
        """Replaced whole, never changed in place: readers on other threads see one set or the other."""

    def set_topics(self, topics: frozenset[Topic]) -> None:
        self.topics = topics

    def close(self) -> None:
        self._hub.drop(self)

    def wants(self, topic: Topic) -> bool:
        topics = self.topics
        return topic in topics or (topic.name is not None and Topic(topic.kind) in topics)


class EventHub:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscriptions: tuple[HubSubscription, ...] = ()
        self._names: dict[int, str] = {}

    def subscribe(self, listener: TopicListener) -> HubSubscription:
        subscription = HubSubscription(self, listener)
        with self._lock:
            self._subscriptions = (*self._subscriptions, subscription)
        return subscription

    def drop(self, subscription: HubSubscription) -> None:
        with self._lock:
            self._subscriptions = tuple(kept for kept in self._subscriptions if kept is not subscription)

    def publish(self, topic: Topic) -> None:
        """Any thread: tell every subscriber that wants `topic`. A subscriber that fails is
        logged and skipped: it must not stop the actor or the writer that published."""
        for subscription in self._subscriptions:
            if subscription.wants(topic):
                try:
                    subscription.listener(topic)
                except Exception:
                    logger.exception("an event subscriber failed on %s", topic)

    def name_process(self, process_id: int, name: str) -> None:
        """Which name the output of `process_id` is published under (the supervisor knows)."""
        with self._lock:
            self._names[process_id] = name

    def forget_process(self, process_id: int) -> None:
        with self._lock:
            self._names.pop(process_id, None)

    def output_committed(self, process_id: int) -> None:
        """The writer's thread, after a commit: the stored lines of `process_id` changed (new
        lines, or lines cleared)."""
        name = self._names.get(process_id)
        if name is not None:
            self.publish(Topic("output", name))

    def errors_changed(self, process_id: int) -> None:
        """The writer's thread, after a commit: the errors of `process_id` changed."""
        name = self._names.get(process_id)
        if name is not None:
            self.publish(Topic("errors", name))
