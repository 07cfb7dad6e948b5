"""The base of every actor in the daemon: every request is answered, whatever fails.

A request reaches an actor in a message that carries its reply future (`reply`), or it is
asked (`Asked`), when pykka holds the asker's future. Either way the asker must get an answer:

- `on_receive` is the one catch-all. A `PmError` is the answer to give; any other exception
  is a bug, logged with its traceback and answered as `internal`. An asked message's failure
  goes back to the asker through pykka; a told message without a reply is logged. The actor
  carries on either way: one bad message never stops the supervisor, the writer or a wait.
- `answer` and `fail` settle a reply future once; a caller that stopped waiting (its client
  went away and the future was cancelled) is not an error.
- When the actor stops, messages still in its inbox are answered `daemon_unavailable`
  instead of being dropped with their callers waiting.

Blocking asks between actors follow one rule, written here so that it can be checked:
`may_ask` names the actor classes an actor may block on, the graph those names form is a
DAG (a loop of asks deadlocks), and `ask` refuses any other target. Tests check all three.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any, ClassVar

import pykka

from pm_actors.actors.messages import Asked, Reply
from pm_actors.errors import DaemonUnavailable, InternalError, PmError

logger = logging.getLogger(__name__)

ASK_TIMEOUT_S = 30.0
"""The longest one actor blocks on another: far beyond any answer the rule allows (a flush of
10,000 lines takes ~0.1 s); reaching it means the other actor is stuck, and the request fails
instead of stalling this actor for good."""


def answer(reply: Reply, result: object) -> None:
    """Settle `reply` with `result`, unless it is settled or its caller stopped waiting."""
    with contextlib.suppress(concurrent.futures.InvalidStateError):
        reply.set_result(result)


def fail(reply: Reply, error: BaseException) -> None:
    """Settle `reply` with `error`, unless it is settled or its caller stopped waiting."""
    with contextlib.suppress(concurrent.futures.InvalidStateError):
        reply.set_exception(error)


def settle_all(futures: list[Reply], reply: Reply) -> None:
    """Answer `reply` with None once every one of `futures` has succeeded, or with the first failure."""
    remaining = len(futures)
    lock = threading.Lock()

    def settled(future: Reply) -> None:
        nonlocal remaining
        error = future.exception()
        if error is not None:
            fail(reply, error)
            return
        with lock:
            remaining -= 1
            last = remaining == 0
        if last:
            answer(reply, None)

    if not futures:
        answer(reply, None)
    for future in futures:
        future.add_done_callback(settled)


def relay(source: Reply, reply: Reply, result: Callable[[Any], object]) -> None:
    """Once `source` is settled, answer `reply` with `result(source's result)`, or its error."""

    def forward(done: Reply) -> None:
        error = done.exception()
        if error is not None:
            fail(reply, error)
        else:
            answer(reply, result(done.result()))

    source.add_done_callback(forward)


class DaemonActor(pykka.ThreadingActor):
    """Subclasses implement `handle(message)`; they never override `on_receive`."""

    may_ask: ClassVar[frozenset[str]] = frozenset()
    """Names of the actor classes this actor may block on with `ask`."""

    def handle(self, message: Any) -> Any:
        """Runs on the actor's thread, one message at a time. Raise `PmError` to answer a
        message's reply (or an asker) with that error."""
        raise NotImplementedError

    def on_receive(self, message: Any) -> Any:
        """Runs on the actor's thread: the one catch-all of every actor."""
        try:
            return self.handle(message)
        except Exception as error:
            failure = self.failure_of(type(message).__name__, error)
            if isinstance(message, Asked):
                raise failure from error  # pykka hands it to the asker; the actor carries on
            reply = getattr(message, "reply", None)
            if isinstance(reply, concurrent.futures.Future):
                fail(reply, failure)
            elif failure is error:
                logger.warning("%s: %s (told %s; nobody to answer)", type(self).__name__, error, message)
            return None

    def on_stop(self) -> None:
        """Runs on the actor's thread once it is stopped: no message left behind goes
        unanswered. A subclass that overrides it calls `super().on_stop()`."""
        stopped = DaemonUnavailable("the daemon is stopping; this request was not carried out")
        while not self.actor_inbox.empty():  # only this thread takes from the inbox
            envelope = self.actor_inbox.get()
            reply = getattr(envelope.message, "reply", None)
            if isinstance(reply, concurrent.futures.Future):
                fail(reply, stopped)
            if envelope.reply_to is not None:
                envelope.reply_to.set_exception(exc_info=(DaemonUnavailable, stopped, None))

    def ask(self, target: pykka.ActorRef[Any], message: Asked, timeout_s: float = ASK_TIMEOUT_S) -> Any:
        """Block on `target`'s answer to `message`, as `may_ask` allows."""
        target_name = target.actor_class.__name__
        if target_name not in self.may_ask:
            raise InternalError(
                f"{type(self).__name__} may not ask {target_name} (may ask: "
                f"{', '.join(sorted(self.may_ask)) or 'nobody'}): a loop of asks would deadlock"
            )
        try:
            return target.ask(message, timeout=timeout_s)
        except pykka.Timeout:
            raise InternalError(
                f"{target_name} did not answer {type(message).__name__} within {timeout_s:g} s"
            ) from None
        except pykka.ActorDeadError:
            raise InternalError(
                f"{target_name} has stopped before answering {type(message).__name__}"
            ) from None

    def failure_of(self, what: str, error: Exception) -> PmError:
        """The answer for `what` (a message, a piece of work) whose handling raised `error`: a
        `PmError` is it; anything else is a bug, logged with its traceback, answered `internal`."""
        if isinstance(error, PmError):
            return error
        logger.error("%s failed handling %s", type(self).__name__, what, exc_info=error)
        return InternalError(f"internal error handling {what}: {error}")
