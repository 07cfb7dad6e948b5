"""Telling an actor that may have stopped meanwhile.

A timer set by a ProcessActor can fire after its process was deleted; a health check can
finish after its actor stopped at shutdown. Such a message is moot, not an error: it is
dropped and logged (at debug level unless the caller says it matters).
"""

from __future__ import annotations

import logging
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
