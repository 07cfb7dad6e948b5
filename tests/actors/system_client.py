"""Blocking calls into an in-process actor system, for the tests of whole behaviours."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from pm_actors.actors.system import ActorSystem
from pm_actors.api import GetProcessInfo, ListProcesses, RequestUnion, StartProcess
from pm_actors.config import load_config
from pm_actors.results import ProcessInfo, ProcessRecord
from pm_actors.states import ProcessState
from tests.daemon_support import all_lines
from tests.helpers import PYTHON, wait_until

CALL_TIMEOUT_S = 30.0


def make_system(environment: dict[str, str], **overrides: str) -> ActorSystem:
    return ActorSystem(load_config(environment | overrides))


@contextlib.contextmanager
def running_system(environment: dict[str, str], **overrides: str) -> Iterator[SystemClient]:
    """A running actor system with its own database, shut down (every child stopped) at the end."""
    system = make_system(environment, **overrides)
    try:
        yield SystemClient(system)
    finally:
        system.shutdown()


class SystemClient:
    def __init__(self, system: ActorSystem) -> None:
        self.system = system

    def call(self, request: RequestUnion) -> Any:
        return self.system.submit(request).result(timeout=CALL_TIMEOUT_S)

    def start(self, name: str, code: str, **fields: Any) -> ProcessRecord:
        """Start a short Python child running `code`, from `/`."""
        record: ProcessRecord = self.call(
            StartProcess(name=name, command=PYTHON, args=["-u", "-c", code], cwd="/", **fields)
        )
        return record

    def record(self, name: str) -> ProcessRecord:
        records: list[ProcessRecord] = self.call(ListProcesses()).processes
        return next(record for record in records if record.name == name)

    def info(self, name: str) -> ProcessInfo:
        info: ProcessInfo = self.call(GetProcessInfo(name=name))
        return info

    def wait_for_state(self, name: str, *states: ProcessState) -> ProcessRecord:
        return wait_until(
            lambda: (record := self.record(name)).state in states and record,
            timeout=CALL_TIMEOUT_S,
            message=f"{name} to reach {states}",
        )

    def all_lines(self, name: str) -> list[str]:
        return all_lines(self, name)
