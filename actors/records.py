"""State that several actors read but exactly one writes.

`RecordBoard` holds the latest `ProcessRecord` of every process. Each ProcessActor publishes
its own record on every change; the supervisor reads the board to list processes, check
limits and answer without a round trip per actor (50 asks would cost milliseconds).

The board publishes every change to the event hub: the record's topic, and the list's when a
process comes or goes. Publishing happens outside the board's lock, on the publisher's thread.
"""

from __future__ import annotations

import threading

from pm_actors.actors.events import EventHub
from pm_actors.api import Topic
from pm_actors.results import ProcessRecord
from pm_actors.states import ACTIVE_STATES


class RecordBoard:
    def __init__(self, events: EventHub) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, ProcessRecord] = {}
        self._events = events

    def publish(self, record: ProcessRecord) -> None:
        with self._lock:
            previous = self._records.get(record.name)
            self._records[record.name] = record
        if record != previous:
            self._events.publish(Topic("state", record.name))
        if previous is None:
            self._events.publish(Topic("processes"))

    def remove(self, name: str) -> None:
        with self._lock:
            removed = self._records.pop(name, None)
        if removed is not None:
            self._events.publish(Topic("state", name))
            self._events.publish(Topic("processes"))

    def get(self, name: str) -> ProcessRecord | None:
        with self._lock:
            return self._records.get(name)

    def all(self) -> list[ProcessRecord]:
        with self._lock:
            return sorted(self._records.values(), key=lambda record: record.name)

    def active_count(self) -> int:
        with self._lock:
            return sum(1 for record in self._records.values() if record.state in ACTIVE_STATES)
