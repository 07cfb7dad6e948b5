"""Helpers for the IPC tests: a fake behind the `Submit` seam, a raw socket peer, a server.

The fake answers on a thread pool, as the actors do, so results arrive from another thread
through a real `concurrent.futures.Future`. Requests for the process named "held" wait for
`gate`, which lets a test finish requests out of order without sleeping.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from pm_actors.api import (
    DeleteProcess,
    KillProcess,
    ListProcesses,
    RequestUnion,
    RestartProcess,
    StopProcess,
    TailLogs,
)
from pm_actors.config import Config, load_config
from pm_actors.errors import InvalidArgument, ProcessNotFound
from pm_actors.ipc.protocol import (
    LENGTH_PREFIX,
    PROTOCOL_VERSION,
    ErrorFrame,
    EventFrame,
    Frame,
    Hello,
    ResponseFrame,
    Welcome,
    decode_server_frame,
    encode_frame,
    read_frame_body,
)
from pm_actors.ipc.server import IpcServer
from pm_actors.log_results import LogLine, LogTail
from pm_actors.results import ProcessList

T = TypeVar("T")

SCENARIO_TIMEOUT_S = 30.0
"""Each async scenario's bound, under pytest-timeout's 60 s, so a hang fails with a traceback."""

RECEIVE_TIMEOUT_S = 10.0
"""How long a raw peer waits for the server's next frame before the test fails."""

HELD_REQUEST_TIMEOUT_S = 20.0
"""A held request gives up waiting for its gate after this, so a failed test never wedges
the thread pool."""

HELD = "held"
HELD_LINE = LogLine(id=1, run_id=1, stream="stdout", ts="2024-01-01T00:00:00.000Z", text="released")


def run(scenario: Coroutine[Any, Any, T]) -> T:
    """Run one async scenario on a fresh event loop, bounded."""

    async def bounded() -> T:
        async with asyncio.timeout(SCENARIO_TIMEOUT_S):
            return await scenario

    return asyncio.run(bounded())


def make_config(environment: dict[str, str], **changes: Any) -> Config:
    return msgspec.structs.replace(load_config(environment, working_directory=Path("/")), **changes)


class FakeActors:
    """A `Submit` that answers like the actors would, from pool threads."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="fake-actor")

    def submit(self, request: RequestUnion) -> concurrent.futures.Future[Any]:
        if isinstance(request, RestartProcess):  # as the actors do when they are stopping
            cancelled: concurrent.futures.Future[Any] = concurrent.futures.Future()
            cancelled.cancel()
            return cancelled
        return self._pool.submit(self._answer, request)

    def close(self) -> None:
        self.gate.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _answer(self, request: RequestUnion) -> Any:
        match request:
            case ListProcesses():
                return ProcessList(processes=[])
            case StopProcess(name=name):
                raise ProcessNotFound(f"no process named {name!r}: list_processes shows the known ones")
            case TailLogs(name=name) if name == HELD:
                self.gate.wait(HELD_REQUEST_TIMEOUT_S)
                return LogTail(lines=[HELD_LINE], next_after_id=1, has_more=False)
            case KillProcess():
                raise RuntimeError("a bug in an actor")
            case DeleteProcess():
                return ProcessList(processes=[])  # the wrong result type for this request
            case _:
                raise InvalidArgument(f"the fake does not handle {type(request).__name__}")


@asynccontextmanager
async def running_server(config: Config, actors: FakeActors, **options: Any) -> AsyncIterator[IpcServer]:
    server = IpcServer(config, config.daemon_token or "", actors.submit, **options)
    await server.start()
    try:
        yield server
    finally:
        await server.close()


class RawPeer:
    """A client speaking raw frames, to send what a well-behaved client never would."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, config: Config) -> RawPeer:
        reader, writer = await asyncio.open_unix_connection(os.fspath(config.daemon_socket_path))
        return cls(reader, writer)

    async def send(self, frame: Frame) -> None:
        await self.send_bytes(encode_frame(frame))

    async def send_bytes(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def receive(self) -> Welcome | ResponseFrame | EventFrame | ErrorFrame | None:
        """The server's next frame, or None once it closed the connection."""
        async with asyncio.timeout(RECEIVE_TIMEOUT_S):
            body = await read_frame_body(self.reader)
        return None if body is None else decode_server_frame(body)

    async def hello(self, token: str) -> Welcome | ResponseFrame | EventFrame | ErrorFrame | None:
        await self.send(Hello(protocol_version=PROTOCOL_VERSION, token=token))
        return await self.receive()

    async def close(self) -> None:
        self.writer.close()
        with suppress(ConnectionError):
            await self.writer.wait_closed()


def token_of(config: Config) -> str:
    assert config.daemon_token is not None
    return config.daemon_token


async def welcomed_peer(config: Config) -> RawPeer:
    peer = await RawPeer.open(config)
    assert isinstance(await peer.hello(token_of(config)), Welcome)
    return peer


async def refusal_then_close(peer: RawPeer) -> ErrorFrame:
    """The error frame the server sends before closing, checking that it does close."""
    refusal = await peer.receive()
    assert isinstance(refusal, ErrorFrame), refusal
    assert await peer.receive() is None
    await peer.close()
    return refusal


async def response(peer: RawPeer) -> ResponseFrame:
    frame = await peer.receive()
    assert isinstance(frame, ResponseFrame), frame
    return frame


def raw_request(request_id: int, request: dict[str, object]) -> bytes:
    body = msgspec.msgpack.encode({"frame": "request", "id": request_id, "request": request})
    return LENGTH_PREFIX.pack(len(body)) + body
