"""Telling an actor that may have stopped meanwhile, and answering a caller that may have gone.

A timer set by a ProcessActor can fire after its process was deleted; a health check can
finish after its actor stopped at shutdown. Such a message is moot, not an error: it is
dropped and logged (at debug level unless the caller says it matters). Likewise an answer to
a caller that stopped waiting (its future cancelled) is dropped.
"""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Callable
from typing import Any

import pykka

logger = logging.getLogger(__name__)


def tell_if_alive(actor: pykka.ActorRef[Any], message: Any, lost_level: int = logging.DEBUG) -> bool:
    """Tell `actor`, from any thread; False (and a log line) if it has stopped."""
    try:
        actor.tell(message)
    except pykka.ActorDeadError:
        logger.log(lost_level, "dropped %s: its actor has stopped", type(message).__name__)
        return False
    return True


def settle(reply: concurrent.futures.Future[Any], result: Any, error: BaseException | None = None) -> None:
    """Answer `reply` (with `error` if given), from any thread; moot if the caller stopped waiting."""
    try:
        if error is None:
            reply.set_result(result)
        else:
            reply.set_exception(error)
    except concurrent.futures.InvalidStateError:
        logger.debug("dropped an answer: its caller stopped waiting")


def relay(
    source: concurrent.futures.Future[Any],
    reply: concurrent.futures.Future[Any],
    result: Callable[[Any], Any],
) -> None:
    """Once `source` is settled, answer `reply` with `result(source's result)`, or its error."""

    def forward(done: concurrent.futures.Future[Any]) -> None:
        error = done.exception()
        settle(reply, None if error is not None else result(done.result()), error)

    source.add_done_callback(forward)
