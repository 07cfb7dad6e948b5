"""State that several actors read but exactly one writes.

`RecordBoard` holds the latest `ProcessRecord` of every process. Each ProcessActor publishes
its own record on every change; the supervisor reads the board to list processes, check
limits and answer without a round trip per actor (50 asks would cost milliseconds).
"""

from __future__ import annotations

import threading

from pm_actors.results import ProcessRecord
from pm_actors.states import ACTIVE_STATES


class RecordBoard:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, ProcessRecord] = {}

    def publish(self, record: ProcessRecord) -> None:
        with self._lock:
            self._records[record.name] = record

    def remove(self, name: str) -> None:
        with self._lock:
            self._records.pop(name, None)

    def get(self, name: str) -> ProcessRecord | None:
        with self._lock:
            return self._records.get(name)

    def all(self) -> list[ProcessRecord]:
        with self._lock:
            return sorted(self._records.values(), key=lambda record: record.name)

    def active_count(self) -> int:
        with self._lock:
            return sum(1 for record in self._records.values() if record.state in ACTIVE_STATES)
