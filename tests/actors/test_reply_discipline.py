"""Every request is answered, whatever fails: a bug injected into each actor that answers
requests comes back as an `internal` error, at once, and the actor goes on serving.

The failure is injected by replacing one of the actor's own methods with one that raises: a
fake behind our own seam, on a real actor system with real children and a real database.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pykka
import pytest

from pm_actors.actors.base import DaemonActor
from pm_actors.actors.groups import GroupActor
from pm_actors.actors.health import HealthActor
from pm_actors.actors.incidents.queries import ErrorQueries
from pm_actors.actors.log_queries import LogQueries
from pm_actors.actors.log_writer import LogWriterActor
from pm_actors.actors.messages import Asked
from pm_actors.actors.metrics import Sampler
from pm_actors.actors.process import ProcessActor
from pm_actors.actors.supervisor import HANDLERS
from pm_actors.actors.waiter import WaitActor
from pm_actors.api import (
    CheckProcessHealth,
    GetLogs,
    GetProcessInfo,
    GetProcessStats,
    ListProcesses,
    RequestUnion,
    WaitFor,
)
from pm_actors.error_requests import GetErrors
from pm_actors.errors import InternalError
from pm_actors.group_requests import ListGroups
from pm_actors.specs import TcpCheck
from tests.actors.system_client import SystemClient

ANSWER_WITHIN_S = 5.0
"""Far below a client's own timeout: the error must come back at once, not after a hang."""

SLEEPER = "import time\nprint('up', flush=True)\ntime.sleep(60)"


def broken(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("injected failure")


INJECTIONS: list[tuple[Any, str, Callable[[], RequestUnion]]] = [
    (HANDLERS, "ListProcesses", ListProcesses),
    (ProcessActor, "_info", lambda: GetProcessInfo(name="sleeper")),
    (HealthActor, "_check_now", lambda: CheckProcessHealth(name="sleeper")),
    (Sampler, "process_stats", lambda: GetProcessStats(name="sleeper")),
    (LogQueries, "get_logs", lambda: GetLogs(name="sleeper")),
    (LogWriterActor, "_index_for", lambda: GetLogs(name="sleeper")),
    (ErrorQueries, "get_errors", lambda: GetErrors(name="sleeper")),
    (WaitActor, "_evaluate", lambda: WaitFor(name="sleeper", until="exited", timeout_s=60)),
    (GroupActor, "handle", ListGroups),
]


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("owner", "method", "request_of"),
    INJECTIONS,
    ids=[f"{getattr(owner, '__name__', 'SupervisorActor')}.{m}" for owner, m, _ in INJECTIONS],
)
def test_a_failure_inside_an_actor_is_answered_as_internal_and_the_actor_goes_on(
    client: SystemClient,
    monkeypatch: pytest.MonkeyPatch,
    owner: Any,
    method: str,
    request_of: Callable[[], RequestUnion],
) -> None:
    client.start("sleeper", SLEEPER, health_check=TcpCheck(port=9, interval_ms=60_000))
    if owner is HANDLERS:  # the supervisor's table of handlers, by request type
        monkeypatch.setitem(HANDLERS, ListProcesses, broken)
    else:
        monkeypatch.setattr(owner, method, broken)

    started = time.monotonic()
    with pytest.raises(InternalError, match="injected failure"):
        client.system.submit(request_of()).result(timeout=ANSWER_WITHIN_S)
    assert time.monotonic() - started < ANSWER_WITHIN_S

    monkeypatch.undo()
    request = request_of()
    if isinstance(request, WaitFor):
        request = WaitFor(name="sleeper", until="log_line", pattern="up", timeout_s=10)
    if not isinstance(request, CheckProcessHealth):  # port 9 refuses: a failed check, still an answer
        assert client.call(request) is not None, "the actor still serves after the failure"


class Ping(Asked, frozen=True):
    pass


class Answerer(DaemonActor):
    def handle(self, message: Any) -> Any:
        return "pong"


class Asker(DaemonActor):
    may_ask = frozenset({"Answerer"})

    def __init__(self, target: pykka.ActorRef[Any]) -> None:
        super().__init__()
        self.target = target

    def handle(self, message: Any) -> Any:
        return self.ask(self.target, Ping())


class Stranger(Asker):
    may_ask = frozenset()


@pytest.mark.timeout(10)
def test_an_actor_may_ask_only_the_actors_it_declares() -> None:
    answerer = Answerer.start()
    assert Asker.start(answerer).ask(Ping(), timeout=5) == "pong"
    stranger = Stranger.start(answerer)
    with pytest.raises(InternalError, match="Stranger may not ask Answerer"):
        stranger.ask(Ping(), timeout=5)
    assert stranger.is_alive(), "a refused ask fails the request, not the actor"
