from __future__ import annotations

import logging
import threading
from typing import Any

import pykka
import pytest

from pm_actors.actors.scheduler import Scheduler
from tests.helpers import wait_until


class Recorder(pykka.ThreadingActor):
    """Keeps what it is told; asked "received", answers the list."""

    def __init__(self) -> None:
        super().__init__()
        self.received: list[Any] = []

    def on_receive(self, message: Any) -> Any:
        if message == "received":
            return list(self.received)
        self.received.append(message)
        return None


def test_callbacks_run_in_deadline_order_not_submission_order(scheduler: Scheduler) -> None:
    order: list[str] = []
    done = threading.Event()

    def late() -> None:
        order.append("late")
        done.set()

    scheduler.call_later(0.06, late)
    scheduler.call_later(0.01, lambda: order.append("early"))
    assert done.wait(5)
    assert order == ["early", "late"]


def test_a_cancelled_timer_never_fires(scheduler: Scheduler) -> None:
    fired: list[str] = []
    done = threading.Event()
    scheduler.call_later(0.01, lambda: fired.append("cancelled")).cancel()
    scheduler.call_later(0.03, done.set)
    assert done.wait(5)
    assert fired == []


def test_tell_later_delivers_the_message_to_the_actor(scheduler: Scheduler) -> None:
    actor = Recorder.start()
    scheduler.tell_later(0.01, actor, "tick")
    wait_until(lambda: actor.ask("received", block=True) == ["tick"], message="the tick")


def test_tell_later_to_an_actor_that_stopped_is_dropped_quietly(
    scheduler: Scheduler, caplog: pytest.LogCaptureFixture
) -> None:
    actor = Recorder.start()
    actor.stop()
    done = threading.Event()
    with caplog.at_level(logging.DEBUG):
        scheduler.tell_later(0.01, actor, "tick")
        scheduler.call_later(0.05, done.set)
        assert done.wait(5)
    assert "dropped str: its actor has stopped" in caplog.text
    assert "a scheduled callback failed" not in caplog.text
