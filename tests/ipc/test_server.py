from __future__ import annotations

import os
import socket
import stat
import sys
from pathlib import Path

import msgspec
import pytest

from pm_actors.api import DeleteProcess, KillProcess, ListProcesses, RestartProcess, StopProcess, TailLogs
from pm_actors.config import Config, ConfigError
from pm_actors.errors import AlreadyRunning, Unauthorized
from pm_actors.ipc.auth import check_peer_uid
from pm_actors.ipc.client import DaemonClient
from pm_actors.ipc.connection import INTERNAL_ERROR_MESSAGE
from pm_actors.ipc.protocol import (
    LENGTH_PREFIX,
    MAX_CLIENT_FRAME_BYTES,
    MAX_HELLO_BYTES,
    PROTOCOL_VERSION,
    Hello,
    RequestFrame,
    Welcome,
    decode_result,
)
from pm_actors.ipc.server import IpcServer
from pm_actors.results import ProcessList
from tests.ipc.support import (
    HELD,
    FakeActors,
    RawPeer,
    make_config,
    raw_request,
    refusal_then_close,
    response,
    run,
    running_server,
    token_of,
    welcomed_peer,
)


def test_a_client_with_the_right_token_is_welcomed_and_answered(config: Config, actors: FakeActors) -> None:
    async def scenario() -> None:
        async with running_server(config, actors) as server:
            assert server.listening
            peer = await RawPeer.open(config)
            welcome = await peer.hello(token_of(config))
            assert isinstance(welcome, Welcome)
            assert welcome.daemon_pid == os.getpid()
            await peer.send(RequestFrame(id=1, request=ListProcesses()))
            answer = await response(peer)
            assert answer.id == 1
            assert decode_result(ListProcesses(), answer.result) == ProcessList(processes=[])
            await peer.close()

    run(scenario())


def test_a_wrong_token_is_refused_and_closed_while_another_client_keeps_being_served(
    config: Config, actors: FakeActors
) -> None:
    async def scenario() -> None:
        async with running_server(config, actors):
            good = await welcomed_peer(config)
            bad = await RawPeer.open(config)
            await bad.send(Hello(protocol_version=PROTOCOL_VERSION, token="not-the-token-at-all"))
            refusal = await refusal_then_close(bad)
            assert refusal.code == "unauthorized"
            assert "wrong token" in refusal.message
            assert str(config.token_path) in refusal.message
            await good.send(RequestFrame(id=5, request=ListProcesses()))
            assert (await response(good)).id == 5
            await good.close()

    run(scenario())


def test_a_connection_silent_past_the_hello_deadline_gets_an_error_frame_and_is_closed(
    config: Config, actors: FakeActors
) -> None:
    async def scenario() -> None:
        async with running_server(config, actors, hello_timeout_s=0.2):
            refusal = await refusal_then_close(await RawPeer.open(config))
            assert refusal.code == "protocol_error"
            assert "no hello frame within 0.2 s" in refusal.message

    run(scenario())


def test_a_request_before_hello_is_refused(config: Config, actors: FakeActors) -> None:
    async def scenario() -> None:
        async with running_server(config, actors):
            peer = await RawPeer.open(config)
            await peer.send(RequestFrame(id=1, request=ListProcesses()))
            refusal = await refusal_then_close(peer)
            assert refusal.code == "protocol_error"
            assert "first frame must be a hello" in refusal.message

    run(scenario())


def test_a_different_protocol_version_is_welcomed_then_refused_naming_both(
    config: Config, actors: FakeActors
) -> None:
    """The welcome tells a client of another release what it needs to restart the daemon."""

    async def scenario() -> None:
        async with running_server(config, actors):
            peer = await RawPeer.open(config)
            await peer.send(Hello(protocol_version=99, token=token_of(config)))
            welcome = await peer.receive()
            assert isinstance(welcome, Welcome) and welcome.interpreter == sys.executable
            refusal = await refusal_then_close(peer)
            assert refusal.code == "protocol_error"
            assert f"protocol version 99, this daemon speaks {PROTOCOL_VERSION}" in refusal.message

    run(scenario())


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"\xc1\xc1\xc1\xc1", "malformed"),
        (msgspec.msgpack.encode([1, 2, 3]), "Expected `object`, got `array`"),
        (msgspec.msgpack.encode({"frame": "launch_missiles"}), "'launch_missiles'"),
    ],
)
def test_a_frame_that_does_not_decode_gets_an_error_frame_saying_why_and_is_closed(
    config: Config, actors: FakeActors, body: bytes, expected: str
) -> None:
    async def scenario() -> None:
        async with running_server(config, actors):
            peer = await welcomed_peer(config)
            await peer.send_bytes(LENGTH_PREFIX.pack(len(body)) + body)
            refusal = await refusal_then_close(peer)
            assert refusal.code == "protocol_error"
            assert "does not decode" in refusal.message
            assert expected in refusal.message

    run(scenario())


def test_an_oversized_length_prefix_is_refused_without_its_body(config: Config, actors: FakeActors) -> None:
    async def scenario() -> None:
        async with running_server(config, actors):
            peer = await RawPeer.open(config)
            await peer.send_bytes(LENGTH_PREFIX.pack(MAX_HELLO_BYTES + 1))
            refusal = await refusal_then_close(peer)
            assert refusal.code == "protocol_error"
            assert f"{MAX_HELLO_BYTES + 1} bytes, over the limit of {MAX_HELLO_BYTES}" in refusal.message
            peer = await welcomed_peer(config)
            await peer.send_bytes(LENGTH_PREFIX.pack(MAX_CLIENT_FRAME_BYTES + 1))
            refusal = await refusal_then_close(peer)
            assert f"over the limit of {MAX_CLIENT_FRAME_BYTES}" in refusal.message

    run(scenario())


def test_an_unknown_tool_is_answered_on_its_id_naming_it_and_the_connection_carries_on(
    config: Config, actors: FakeActors
) -> None:
    async def scenario() -> None:
        async with running_server(config, actors):
            peer = await welcomed_peer(config)
            await peer.send_bytes(raw_request(7, {"tool": "frobnicate"}))
            answer = await response(peer)
            assert answer.id == 7
            assert answer.error is not None
            assert answer.error.code == "invalid_argument"
            assert "'frobnicate'" in answer.error.message
            await peer.send(RequestFrame(id=8, request=ListProcesses()))
            assert (await response(peer)).id == 8
            await peer.close()

    run(scenario())


def test_an_invalid_field_is_answered_naming_the_field(config: Config, actors: FakeActors) -> None:
    async def scenario() -> None:
        async with running_server(config, actors):
            peer = await welcomed_peer(config)
            await peer.send_bytes(raw_request(9, {"tool": "start_process", "name": "web", "command": ""}))
            answer = await response(peer)
            assert answer.error is not None
            assert answer.error.code == "invalid_argument"
            assert "`$.command`" in answer.error.message
            await peer.close()

    run(scenario())


def test_pipelined_requests_finish_out_of_order_and_are_matched_by_id(
    config: Config, actors: FakeActors
) -> None:
    async def scenario() -> None:
        async with running_server(config, actors):
            peer = await welcomed_peer(config)
            await peer.send(RequestFrame(id=1, request=TailLogs(name=HELD)))
            await peer.send(RequestFrame(id=2, request=ListProcesses()))
            assert (await response(peer)).id == 2
            actors.gate.set()
            held = await response(peer)
            assert held.id == 1
            assert decode_result(TailLogs(name=HELD), held.result).lines[0].text == "released"
            await peer.close()

    run(scenario())


def test_a_pm_error_is_answered_with_its_code_and_message(config: Config, actors: FakeActors) -> None:
    async def scenario() -> None:
        async with running_server(config, actors):
            peer = await welcomed_peer(config)
            await peer.send(RequestFrame(id=3, request=StopProcess(name="web")))
            answer = await response(peer)
            assert answer.error is not None
            assert answer.error.code == "not_found"
            assert answer.error.message == "no process named 'web': list_processes shows the known ones"
            await peer.close()

    run(scenario())


def test_an_unexpected_failure_is_logged_and_answered_as_internal_and_serving_goes_on(
    config: Config, actors: FakeActors, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with running_server(config, actors):
            peer = await welcomed_peer(config)
            await peer.send(RequestFrame(id=4, request=KillProcess(name="web")))
            answer = await response(peer)
            assert answer.error is not None
            assert (answer.error.code, answer.error.message) == ("internal", INTERNAL_ERROR_MESSAGE)
            await peer.send(RequestFrame(id=5, request=ListProcesses()))
            assert (await response(peer)).error is None
            await peer.close()

    run(scenario())
    assert "a bug in an actor" in caplog.text


def test_a_result_of_the_wrong_type_is_answered_as_internal(config: Config, actors: FakeActors) -> None:
    async def scenario() -> None:
        async with running_server(config, actors):
            peer = await welcomed_peer(config)
            await peer.send(RequestFrame(id=6, request=DeleteProcess(name="web")))
            answer = await response(peer)
            assert answer.error is not None
            assert answer.error.code == "internal"
            assert "delete_process produced a ProcessList" in answer.error.message
            await peer.close()

    run(scenario())


def test_a_request_the_actors_cancel_is_answered_not_left_waiting(config: Config, actors: FakeActors) -> None:
    async def scenario() -> None:
        async with running_server(config, actors):
            peer = await welcomed_peer(config)
            await peer.send(RequestFrame(id=7, request=RestartProcess(name="web")))
            answer = await response(peer)
            assert answer.error is not None
            assert answer.error.code == "daemon_unavailable"
            assert "cancelled this request" in answer.error.message
            await peer.close()

    run(scenario())


def test_the_socket_is_0600_in_a_0700_directory(config: Config, actors: FakeActors) -> None:
    async def scenario() -> None:
        async with running_server(config, actors):
            socket_mode = config.daemon_socket_path.stat().st_mode
            assert stat.S_ISSOCK(socket_mode)
            assert stat.S_IMODE(socket_mode) == 0o600
            assert stat.S_IMODE(config.state_dir.stat().st_mode) == 0o700

    run(scenario())


def test_a_socket_path_over_the_limit_is_refused_with_a_clear_error(
    config: Config, actors: FakeActors, short_tmp: Path
) -> None:
    too_long = make_config({}, daemon_socket_path=short_tmp / ("s" * 120))
    server = IpcServer(too_long, "t" * 32, actors.submit)
    with pytest.raises(ConfigError, match=r"PM_DAEMON_SOCKET_PATH=.*over the Unix socket limit of 107"):
        run(server.start())
    assert not server.listening


def test_close_removes_the_socket_and_ends_connections(config: Config, actors: FakeActors) -> None:
    async def scenario() -> None:
        async with running_server(config, actors) as server:
            peer = await welcomed_peer(config)
            await server.close()
            assert not config.daemon_socket_path.exists()
            assert not server.listening
            assert await peer.receive() is None
            await peer.close()

    run(scenario())


def test_a_stale_socket_left_by_a_dead_daemon_is_replaced(config: Config, actors: FakeActors) -> None:
    config.state_dir.mkdir(mode=0o700)
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(os.fspath(config.daemon_socket_path))
    dead.close()

    async def scenario() -> None:
        async with running_server(config, actors):
            peer = await welcomed_peer(config)
            await peer.close()

    run(scenario())


def test_a_socket_a_live_daemon_listens_on_is_not_taken_over(config: Config, actors: FakeActors) -> None:
    async def scenario() -> None:
        async with running_server(config, actors):
            second = IpcServer(config, token_of(config), actors.submit)
            with pytest.raises(AlreadyRunning, match="already listening"):
                await second.start()
            peer = await welcomed_peer(config)
            await peer.close()

    run(scenario())


def test_a_file_that_is_not_a_socket_is_never_removed(config: Config, actors: FakeActors) -> None:
    config.state_dir.mkdir(mode=0o700)
    config.daemon_socket_path.write_text("precious")
    server = IpcServer(config, token_of(config), actors.submit)
    with pytest.raises(ConfigError, match="is not a socket"):
        run(server.start())
    assert config.daemon_socket_path.read_text() == "precious"


def test_tcp_transport_listens_on_loopback_and_serves(config: Config, actors: FakeActors) -> None:
    tcp = msgspec.structs.replace(
        config, daemon_transport="tcp", daemon_tcp_bind="127.0.0.1", daemon_tcp_port=0
    )

    async def scenario() -> None:
        async with running_server(tcp, actors) as server:
            assert server.tcp_port
            reachable = msgspec.structs.replace(tcp, daemon_tcp_port=server.tcp_port)
            async with await DaemonClient.connect(reachable) as client:
                assert await client.call(ListProcesses()) == ProcessList(processes=[])

    run(scenario())


def test_a_peer_running_as_another_user_is_refused() -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX)
    with ours, theirs:
        check_peer_uid(ours, os.geteuid())
        with pytest.raises(Unauthorized, match=f"runs as uid {os.geteuid()}; this daemon serves uid"):
            check_peer_uid(ours, os.geteuid() + 1)
