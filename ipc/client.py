"""The client side of the daemon's socket: what the MCP shim and the CLI talk through.

One connection carries any number of concurrent calls: each request gets a fresh id, a
background task reads responses as they come and hands each to the call waiting for its id.
After `subscribe`, the same task hands each event frame to the listener.
Errors come back as our own classes: a `PmError` the daemon reported is rebuilt as the class of
its code (`NotFound`, `AlreadyRunning`, ...) with its message; a connection that cannot be made
or is lost is `DaemonUnavailable`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
from collections.abc import Callable
from types import TracebackType
from typing import Any

from pm_actors.api import RequestUnion, Topic
from pm_actors.config import Config
from pm_actors.errors import (
    DaemonUnavailable,
    ErrorCode,
    InternalError,
    PmError,
    ProtocolError,
    error_from_wire,
)

from .auth import read_token
from .protocol import (
    PROTOCOL_VERSION,
    ErrorFrame,
    EventFrame,
    Frame,
    Hello,
    RequestFrame,
    ResponseFrame,
    SubscribeFrame,
    Welcome,
    decode_result,
    decode_server_frame,
    encode_frame,
    read_frame_body,
)

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
"""A live daemon accepts and answers hello at once; longer means it is stuck or overloaded."""

CLOSE_TIMEOUT_S = 1.0
"""Time to let the socket close politely before it is cut."""


EventListener = Callable[[list[Topic]], None]
"""Told the topics that changed, each time the daemon's push stream says so."""


class ConnectionClosed(DaemonUnavailable):
    """The connection had already ended (the daemon closed it, e.g. when it was idle) when a
    call came: the request was never sent, so sending it on a new connection is safe."""


class NoDaemonListening(DaemonUnavailable):
    """Nothing accepts connections at the configured address (no socket file, a stale one left
    by a dead daemon, a closed port): the one case where starting a daemon can help."""


class DaemonOfOtherRelease(ProtocolError):
    """The daemon speaks another protocol version; its welcome says whether it can be restarted
    on this client's code."""

    def __init__(self, welcome: Welcome) -> None:
        super().__init__(
            f"the daemon (pid {welcome.daemon_pid}, pm-actors {welcome.server_version}) speaks protocol "
            f"version {welcome.protocol_version}, this client speaks {PROTOCOL_VERSION}: restart the "
            "daemon (`pm-actors daemon restart`) so that both come from the same pm-actors"
        )
        self.welcome = welcome


class DaemonClient:
    """A connection to the daemon that has said hello; implements the shim's `Backend`.

    Create it with `await DaemonClient.connect(config)` (or the launcher's
    `connect_or_start`), from the event loop it will be used on."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, welcome: Welcome) -> None:
        self.welcome = welcome
        """The daemon's answer to hello: its pid and version."""
        self._reader = reader
        self._writer = writer
        self._write_lock = asyncio.Lock()
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[ResponseFrame]] = {}
        self._failure: PmError | None = None
        self._listener: EventListener | None = None
        self.notes: dict[ErrorCode, str] = {}
        """Said after the message of an error with this code (a setting the daemon applies
        otherwise than this client was given, which explains it)."""
        self._reader_task = asyncio.get_running_loop().create_task(self._read_responses())

    @classmethod
    async def connect(
        cls, config: Config, token: str | None = None, timeout: float = CONNECT_TIMEOUT_S
    ) -> DaemonClient:
        """Connect and say hello. Without `token`, it is read (PM_DAEMON_TOKEN or the daemon's
        token file) once the socket answers, so a missing daemon is reported as such."""
        address = config.daemon_address
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await _open_stream(config, address)
                try:
                    welcome = await _say_hello(reader, writer, token or read_token(config))
                except BaseException:
                    writer.close()
                    raise
        except TimeoutError:
            raise DaemonUnavailable(
                f"the daemon at {address} did not answer within {timeout:g} s: it may be stuck; "
                f"its log is {config.daemon_log_path}"
            ) from None
        logger.debug("connected to daemon pid %d at %s", welcome.daemon_pid, address)
        return cls(reader, writer, welcome)

    @property
    def closed(self) -> bool:
        return self._failure is not None

    async def call(self, request: RequestUnion) -> Any:
        """Send `request` and return its result struct (`type(request).result_type`).

        Raises the error class of the daemon's code, with its message, when the request failed, and
        `DaemonUnavailable` when the connection is lost before the answer came."""
        response = await self._exchange(lambda request_id: RequestFrame(id=request_id, request=request))
        return decode_result(request, response.result)

    async def subscribe(self, topics: frozenset[Topic], listener: EventListener) -> None:
        """From now on, call `listener` (on this event loop) with the topics that changed, of
        `topics` (replacing the earlier set; empty: none)."""
        self._listener = listener
        await self._exchange(lambda request_id: SubscribeFrame(id=request_id, topics=topics))

    async def wait_closed(self) -> None:
        """Return once the connection is over (lost, or closed by either side)."""
        await asyncio.wait([self._reader_task])

    async def _exchange(self, frame_with_id: Callable[[int], Frame]) -> ResponseFrame:
        """Send the frame built for a fresh id; return the response of that id, or raise its error."""
        if self._failure is not None:
            raise ConnectionClosed(f"not sent: {self._failure.message}")
        request_id = next(self._ids)
        answer: asyncio.Future[ResponseFrame] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = answer
        try:
            await self._send(frame_with_id(request_id))
            response = await answer
        finally:
            self._pending.pop(request_id, None)
        if response.error is not None:
            error = error_from_wire(response.error.code, response.error.message)
            note = self.notes.get(error.code)
            raise error if note is None else type(error)(f"{error.message} ({note})")
        return response

    async def close(self) -> None:
        """Close the connection; calls still waiting fail with `DaemonUnavailable`."""
        if self._failure is None:
            self._fail(DaemonUnavailable("the client closed its connection to the daemon"))
        self._reader_task.cancel()
        await asyncio.wait([self._reader_task])
        await _close_writer(self._writer)

    async def __aenter__(self) -> DaemonClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()

    async def _send(self, frame: Frame) -> None:
        data = encode_frame(frame)
        try:
            async with self._write_lock:
                self._writer.write(data)
                await self._writer.drain()
        except ConnectionError as error:
            raise DaemonUnavailable(f"the connection to the daemon is lost: {error}") from None

    async def _read_responses(self) -> None:
        """Runs for the life of the connection: hands each response to the call awaiting it."""
        try:
            while True:
                body = await read_frame_body(self._reader)
                if body is None:
                    raise DaemonUnavailable("the daemon closed the connection (it may have stopped)")
                self._dispatch(decode_server_frame(body))
        except ConnectionError as error:
            self._fail(DaemonUnavailable(f"the connection to the daemon was lost: {error}"))
        except PmError as error:
            self._fail(error)
        except Exception:  # the top level of this task: no call may be left waiting forever
            logger.exception("reading the daemon's responses failed unexpectedly")
            self._fail(InternalError("reading the daemon's responses failed unexpectedly; see the log"))

    def _dispatch(self, frame: Welcome | ResponseFrame | EventFrame | ErrorFrame) -> None:
        if isinstance(frame, ErrorFrame):
            raise _refusal(frame)
        if isinstance(frame, EventFrame):
            if self._listener is not None:
                self._listener(frame.topics)
            return
        if isinstance(frame, Welcome):
            raise ProtocolError("the daemon sent a second welcome on this connection")
        answer = self._pending.get(frame.id)
        if answer is None or answer.done():
            logger.debug("dropping the response to request %d: nobody awaits it any more", frame.id)
            return
        answer.set_result(frame)

    def _fail(self, error: PmError) -> None:
        """The connection is over: every call still waiting, and every later one, fails."""
        self._failure = error
        if self._pending:
            logger.warning("%d pending call(s) to the daemon cut off: %s", len(self._pending), error.message)
        for answer in self._pending.values():
            if not answer.done():
                answer.set_exception(_cut_off(error))
        self._writer.close()


async def _open_stream(config: Config, address: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    try:
        if config.daemon_transport == "unix":
            return await asyncio.open_unix_connection(os.fspath(config.daemon_socket_path))
        return await asyncio.open_connection(config.daemon_tcp_bind, config.daemon_tcp_port)
    except (FileNotFoundError, ConnectionRefusedError) as error:
        reason = "no socket file" if isinstance(error, FileNotFoundError) else "connection refused"
        raise NoDaemonListening(
            f"no daemon is listening at {address} ({reason}): start one with `pm-actors daemon`"
        ) from None
    except OSError as error:
        raise DaemonUnavailable(
            f"cannot connect to the daemon at {address}: {error.strerror or error}"
        ) from None


async def _say_hello(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, token: str) -> Welcome:
    """Send hello and return the daemon's welcome, or raise what it answered instead."""
    writer.write(encode_frame(Hello(protocol_version=PROTOCOL_VERSION, token=token)))
    with contextlib.suppress(ConnectionError):  # a refusal may already be waiting to be read
        await writer.drain()
    try:
        body = await read_frame_body(reader)
    except ConnectionError as error:
        raise DaemonUnavailable(f"the daemon dropped the connection during the handshake: {error}") from None
    if body is None:
        raise DaemonUnavailable("the daemon closed the connection during the handshake (it may be stopping)")
    frame = decode_server_frame(body)
    if isinstance(frame, ErrorFrame):
        raise _refusal(frame)
    if not isinstance(frame, Welcome):
        raise ProtocolError("the daemon answered hello with something other than a welcome")
    if frame.protocol_version != PROTOCOL_VERSION:
        raise DaemonOfOtherRelease(frame)
    return frame


def _refusal(frame: ErrorFrame) -> PmError:
    """The error for a protocol-level refusal from the daemon."""
    return error_from_wire(frame.code, frame.message)


def _cut_off(error: PmError) -> PmError:
    """What a call that was waiting when the connection ended raises."""
    if isinstance(error, DaemonUnavailable):
        return DaemonUnavailable(
            f"{error.message}, before answering this request: it may or may not have taken effect"
        )
    return _copy_of(error)


def _copy_of(error: PmError) -> PmError:
    """A fresh exception like `error`, so raising it again does not grow one traceback."""
    return error_from_wire(error.code, error.message)


async def _close_writer(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            await writer.wait_closed()
    except TimeoutError:
        writer.transport.abort()
    except ConnectionError:
        pass
