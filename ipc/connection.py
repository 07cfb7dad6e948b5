"""One client connection to the daemon: the handshake, then its requests.

Every connection must say hello with the protocol version and the token before anything else;
each request then runs in its own task, so one slow request never holds up the others, and
responses go out as they complete, matched by id. Nothing a client sends can crash the
daemon: a frame that is not ours ends the connection with an `ErrorFrame`, a bad request gets
an error response on its id, and an unexpected failure is logged and answered as `internal`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pm_actors.api import RequestUnion, tool_name
from pm_actors.config import RateLimit
from pm_actors.errors import (
    DaemonUnavailable,
    ErrorCode,
    PmError,
    ProtocolError,
    Unauthorized,
)

from .auth import check_peer_uid, tokens_match
from .protocol import (
    MAX_CLIENT_FRAME_BYTES,
    MAX_HELLO_BYTES,
    ErrorFrame,
    ErrorInfo,
    Frame,
    IncomingHello,
    IncomingRequestFrame,
    ResponseFrame,
    SubscribeFrame,
    Welcome,
    check_protocol_version,
    decode_client_frame,
    decode_request,
    decode_token,
    encode_frame,
    encode_result,
    read_frame_body,
)
from .rate_limit import RateLimiter
from .subscriptions import ConnectionEvents, EventSource

logger = logging.getLogger(__name__)

Submit = Callable[[RequestUnion], concurrent.futures.Future[Any]]
"""How the daemon hands a request to the actors (`ActorSystem.submit`): the future resolves
to the result struct, or fails with a `PmError`."""

HELLO_TIMEOUT_S = 5.0
"""A real client says hello as soon as it connects; a silent connection only holds resources."""

IDLE_TIMEOUT_S = 300.0
"""An authenticated connection with no request in flight that sends nothing for this long is
closed (with a `daemon_unavailable` frame saying so; the client session connects again on its
next call). Long enough for a person or a model to think between calls; a `wait_for` in
flight keeps its connection open however long it waits."""

FRAME_TIMEOUT_S = 10.0
"""Once a frame's first byte has arrived, the rest must follow within this: a frame of the
largest size a request may have takes milliseconds on a local socket, and a peer that stops
half-way through a frame only holds the connection."""

CLOSE_FLUSH_TIMEOUT_S = 1.0
"""Time to flush a last frame (a refusal) and close: a peer that stopped reading must not hold
a connection, or the daemon's shutdown, open."""

MAX_IN_FLIGHT_PER_CONNECTION = 64
"""Requests one connection may have running at once; past it we stop reading its frames, so a
flooding client slows itself down instead of growing the daemon's task list."""

INTERNAL_ERROR_MESSAGE = "the daemon failed unexpectedly on this request; its log has the details"


@dataclass(frozen=True)
class ServerContext:
    """What every connection of one server shares."""

    token: str
    token_path: Path
    submit: Submit
    welcome: Welcome
    hello_timeout_s: float
    idle_timeout_s: float
    frame_timeout_s: float
    rate_limit: RateLimit | None
    spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]]
    events: EventSource | None = None
    """Where subscribed connections get their events from; None: no push stream."""


class _Idle(DaemonUnavailable):
    """The connection was idle too long; a client that sees it connects again."""


class Connection:
    """One client: the handshake, then its requests, each answered by its own task."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, context: ServerContext
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._context = context
        self._write_lock = asyncio.Lock()
        self._in_flight_slots = asyncio.Semaphore(MAX_IN_FLIGHT_PER_CONNECTION)
        self._requests: set[asyncio.Task[None]] = set()
        self._last_answer_at = time.monotonic()
        self._limiter = None if context.rate_limit is None else RateLimiter(context.rate_limit)
        self._peer = str(writer.get_extra_info("peername") or "a local client")
        self._events = ConnectionEvents(context.events, self._send, writer, context.spawn, self._peer)

    async def serve(self) -> None:
        """The top-level handler of a connection: whatever happens, the daemon carries on."""
        try:
            self._check_peer()
            await self._handshake()
            await self._serve_requests()
        except (ProtocolError, Unauthorized) as refusal:
            logger.warning("refused %s: %s", self._peer, refusal.message)
            await self._send_quietly(ErrorFrame(code=refusal.code.value, message=refusal.message))
        except _Idle as idle:
            logger.debug("closing the idle connection of %s", self._peer)
            await self._send_quietly(ErrorFrame(code=idle.code.value, message=idle.message))
        except ConnectionError as error:
            logger.debug("%s went away: %s", self._peer, error)
        except Exception:
            logger.exception("the connection of %s failed unexpectedly", self._peer)
            await self._send_quietly(
                ErrorFrame(code=ErrorCode.INTERNAL.value, message=INTERNAL_ERROR_MESSAGE)
            )
        finally:
            await self._close()

    def _check_peer(self) -> None:
        connection = self._writer.get_extra_info("socket")
        if connection is not None:
            check_peer_uid(connection, os.geteuid())

    async def _handshake(self) -> None:
        timeout_s = self._context.hello_timeout_s
        try:
            async with asyncio.timeout(timeout_s):
                body = await read_frame_body(self._reader, MAX_HELLO_BYTES)
        except TimeoutError:
            raise ProtocolError(f"no hello frame within {timeout_s:g} s of connecting") from None
        if body is None:
            raise ConnectionResetError("closed the connection before saying hello")
        frame = decode_client_frame(body)
        if not isinstance(frame, IncomingHello):
            raise ProtocolError("the first frame must be a hello with the protocol version and token")
        if not tokens_match(decode_token(frame.token), self._context.token):
            raise Unauthorized(
                "wrong token: the client must present the daemon's token (PM_DAEMON_TOKEN, or the "
                f"file {self._context.token_path})"
            )
        await self._send(self._context.welcome)  # even to a client of another release: see Welcome
        check_protocol_version(frame.protocol_version)

    async def _serve_requests(self) -> None:
        while True:
            await self._in_flight_slots.acquire()
            body = await self._next_frame_body()
            if body is None:  # the client is done sending; let it read what is still coming
                await asyncio.gather(*self._requests, return_exceptions=True)
                return
            frame = decode_client_frame(body)
            if isinstance(frame, IncomingHello):
                raise ProtocolError("a second hello on a connection that already said hello")
            task = self._context.spawn(self._answer(frame))
            self._requests.add(task)
            task.add_done_callback(self._requests.discard)

    async def _next_frame_body(self) -> bytes | None:
        """The next frame, once it begins (`_first_byte`), within the frame timeout; None at EOF."""
        first = await self._first_byte()
        if not first:
            return None
        timeout_s = self._context.frame_timeout_s
        try:
            async with asyncio.timeout(timeout_s):
                return await read_frame_body(self._reader, MAX_CLIENT_FRAME_BYTES, first)
        except TimeoutError:
            raise ProtocolError(f"a frame was not complete {timeout_s:g} s after it began") from None

    async def _first_byte(self) -> bytes:
        """Wait for a frame to begin (b"" at EOF). While requests are in flight the client is
        waiting for them, not idle; once none is, it is idle from its last answer on."""
        idle_s = self._context.idle_timeout_s
        wait_s = idle_s
        while True:
            try:
                async with asyncio.timeout(wait_s):
                    return await self._reader.read(1)
            except TimeoutError:
                quiet_s = time.monotonic() - self._last_answer_at
                if not self._requests and quiet_s >= idle_s:
                    raise _Idle(f"closed after {idle_s:g} s without a request; connect again") from None
                wait_s = idle_s if self._requests else idle_s - quiet_s

    async def _answer(self, frame: IncomingRequestFrame | SubscribeFrame) -> None:
        try:
            if isinstance(frame, SubscribeFrame):
                await self._send(self._events.subscribe(frame))
            else:
                await self._send(await self._response_to(frame))
        except ConnectionError as error:
            logger.debug("could not answer request %d of %s: %s", frame.id, self._peer, error)
        finally:
            self._last_answer_at = time.monotonic()
            self._in_flight_slots.release()

    async def _response_to(self, frame: IncomingRequestFrame) -> ResponseFrame:
        """The top-level handler of one request: every outcome becomes a response."""
        try:
            request = decode_request(frame.request)
            tool = tool_name(type(request))
            logger.debug("request %d from %s: %s", frame.id, self._peer, tool)
            if self._limiter is not None:
                self._limiter.check(tool)
            result = await self._outcome_of(request)
            return ResponseFrame(id=frame.id, result=encode_result(request, result))
        except PmError as error:
            info = ErrorInfo(code=error.code.value, message=error.message)
            return ResponseFrame(id=frame.id, error=info)
        except Exception:
            logger.exception("request %d of %s failed unexpectedly", frame.id, self._peer)
            info = ErrorInfo(code=ErrorCode.INTERNAL.value, message=INTERNAL_ERROR_MESSAGE)
            return ResponseFrame(id=frame.id, error=info)

    async def _outcome_of(self, request: RequestUnion) -> object:
        """The result the actors produce for `request`. A future the actors cancelled (they
        are stopping) becomes an error response, not a request left forever unanswered."""
        try:
            return await asyncio.wrap_future(self._context.submit(request))
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # our own task is being cancelled: the server is closing
            raise DaemonUnavailable("the daemon cancelled this request: it may be stopping") from None

    async def _send(self, frame: Frame) -> None:
        """Write one whole frame; the lock keeps concurrent answers from interleaving."""
        data = encode_frame(frame)
        async with self._write_lock:
            if self._writer.is_closing():
                raise ConnectionResetError("the connection is already closed")
            self._writer.write(data)
            await self._writer.drain()

    async def _send_quietly(self, frame: Frame) -> None:
        """Send a last frame if the peer takes it soon; it matters less than closing."""
        with contextlib.suppress(ConnectionError, TimeoutError):
            async with asyncio.timeout(CLOSE_FLUSH_TIMEOUT_S):
                await self._send(frame)

    async def _close(self) -> None:
        self._events.close()
        self._writer.close()
        try:
            async with asyncio.timeout(CLOSE_FLUSH_TIMEOUT_S):
                await self._writer.wait_closed()
        except TimeoutError:
            self._writer.transport.abort()
        except ConnectionError:
            pass
