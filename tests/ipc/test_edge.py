"""Input a well-behaved client never sends, and clients that stop talking: each gets a coded
answer (never `internal`), and the server keeps serving."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from pm_actors.api import ListProcesses, SearchLogs, StartProcess
from pm_actors.config import Config
from pm_actors.errors import ErrorCode, InvalidArgument
from pm_actors.ipc.client import DaemonClient
from pm_actors.ipc.protocol import LENGTH_PREFIX, PROTOCOL_VERSION, ResponseFrame
from pm_actors.ipc.session import ClientSession
from pm_actors.results import ProcessList
from tests.helpers import wait_until
from tests.ipc.support import (
    HELD,
    FakeActors,
    RawPeer,
    raw_request,
    refusal_then_close,
    run,
    running_server,
    welcomed_peer,
)

SHORT_S = 0.3
"""Idle and frame timeouts of the servers below: long enough for a local round trip."""

NESTED = b"\x91" * 100_000 + b"\xc0"
"""A msgpack value nested 100,000 arrays deep."""


def framed(body: bytes) -> bytes:
    return LENGTH_PREFIX.pack(len(body)) + body


def test_a_token_that_is_not_utf8_is_unauthorized(config: Config, actors: FakeActors) -> None:
    version = bytes([PROTOCOL_VERSION])  # a positive fixint
    hello = b"\x83\xa5frame\xa5hello\xb0protocol_version" + version + b"\xa5token\xa4\xff\xfe\xfd\xfc"

    async def scenario() -> None:
        async with running_server(config, actors):
            peer = await RawPeer.open(config)
            await peer.send_bytes(framed(hello))
            refusal = await refusal_then_close(peer)
            assert refusal.code == ErrorCode.UNAUTHORIZED and "wrong token" in refusal.message

    run(scenario())


def test_a_frame_nested_100000_deep_is_a_protocol_error_and_the_server_carries_on(
    config: Config, actors: FakeActors
) -> None:
    """msgspec must walk a value to find its end, so the frame itself cannot be read: refused
    as a protocol error (never `internal`), without a traceback, and others are served."""
    nested_request = b"\x83\xa5frame\xa7request\xa2id\x07\xa7request" + NESTED
    nested_extra = b"\x84\xa5frame\xa7request\xa2id\x07\xa7request\xc0\xa5extra" + NESTED

    async def scenario() -> None:
        async with running_server(config, actors):
            for frame in (nested_request, nested_extra):
                peer = await welcomed_peer(config)
                await peer.send_bytes(framed(frame))
                refusal = await refusal_then_close(peer)
                assert refusal.code == ErrorCode.PROTOCOL_ERROR and "nested too deeply" in refusal.message
            async with await DaemonClient.connect(config) as client:
                assert await client.call(ListProcesses()) == ProcessList(processes=[])

    run(scenario())


def test_a_request_over_its_types_size_is_refused_on_its_id_before_it_is_decoded(
    config: Config, actors: FakeActors
) -> None:
    query = "word " * 200_000

    async def scenario() -> None:
        async with running_server(config, actors), await DaemonClient.connect(config) as client:
            with pytest.raises(InvalidArgument, match=r"search_logs of \d+ bytes is over its limit of 65536"):
                await client.call(SearchLogs(query=query))
            assert await client.call(ListProcesses()) == ProcessList(processes=[])

    run(scenario())


def test_a_nul_byte_or_a_bad_variable_name_is_an_invalid_argument_naming_the_rule(
    config: Config, actors: FakeActors
) -> None:
    async def scenario() -> None:
        async with running_server(config, actors), await DaemonClient.connect(config) as client:
            for env, args in (({}, ["a\x00b"]), ({"A\x00": "1"}, []), ({"A=B": "1"}, []), ({"": "1"}, [])):
                start = StartProcess(name="bad", command="/usr/bin/true", args=args, env=env, cwd="/")
                with pytest.raises(InvalidArgument, match=r"that is: .*NUL byte"):
                    await client.call(start)
            start = StartProcess(name="bad", command="/usr/bin/true", env={"A": "\x00"}, cwd="/")
            with pytest.raises(InvalidArgument, match="no NUL byte"):
                await client.call(start)

    run(scenario())


def test_a_frame_left_half_sent_is_timed_out(config: Config, actors: FakeActors) -> None:
    async def scenario() -> None:
        async with running_server(config, actors, frame_timeout_s=SHORT_S):
            peer = await welcomed_peer(config)
            await peer.send_bytes(raw_request(1, {"tool": "list_processes"})[:6])
            refusal = await refusal_then_close(peer)
            assert refusal.code == ErrorCode.PROTOCOL_ERROR and "not complete" in refusal.message

    run(scenario())


def test_an_idle_connection_is_closed_but_not_while_a_request_is_in_flight(
    config: Config, actors: FakeActors
) -> None:
    async def scenario() -> None:
        async with running_server(config, actors, idle_timeout_s=SHORT_S):
            peer = await welcomed_peer(config)
            await peer.send_bytes(raw_request(1, {"tool": "tail_logs", "name": HELD}))
            with pytest.raises(TimeoutError):  # three idle periods pass, the request still held
                async with asyncio.timeout(3 * SHORT_S):
                    await peer.receive()
            actors.gate.set()
            answered = await peer.receive()
            assert isinstance(answered, ResponseFrame) and answered.error is None
            refusal = await refusal_then_close(peer)
            assert refusal.code == ErrorCode.DAEMON_UNAVAILABLE and "without a request" in refusal.message

    run(scenario())


def test_a_session_whose_connection_was_closed_idle_sends_any_request_on_a_new_one(
    config: Config, actors: FakeActors
) -> None:
    async def scenario() -> None:
        async with running_server(config, actors, idle_timeout_s=SHORT_S):
            clients: list[DaemonClient] = []

            async def connect() -> DaemonClient:
                clients.append(await DaemonClient.connect(config))
                return clients[-1]

            session = ClientSession(connect, "/")
            assert await session.call(ListProcesses()) == ProcessList(processes=[])
            await asyncio.to_thread(wait_until, lambda: clients[0].closed, 5.0, 0.01, "the idle close")
            with pytest.raises(InvalidArgument, match="the fake does not handle StartProcess"):
                await session.call(StartProcess(name="web", command="/usr/bin/true", cwd="/"))
            assert len(clients) == 2
            await session.close()

    run(scenario())


def test_the_shapes_of_the_edge_show_in_the_schema() -> None:
    schema = msgspec.json.schema(StartProcess)["$defs"]["StartProcess"]["properties"]
    assert schema["env"]["propertyNames"]["pattern"] == "^[^=\\x00]+$"
    assert schema["args"]["items"]["pattern"] == "^[^\\x00]*$"
    assert schema["args"]["maxItems"] > 0
