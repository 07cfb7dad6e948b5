from __future__ import annotations

import asyncio
import os
import socket

import msgspec
import pytest

from pm_actors.api import ListProcesses, StartProcess, StopProcess, TailLogs
from pm_actors.config import Config
from pm_actors.errors import DaemonUnavailable, ErrorCode, InvalidArgument, NotFound, Unauthorized
from pm_actors.ipc.client import DaemonClient, NoDaemonListening
from pm_actors.ipc.session import Backend
from pm_actors.log_results import LogTail
from pm_actors.results import ProcessList
from tests.ipc.support import HELD, FakeActors, run, running_server


def test_a_call_returns_the_result_struct(config: Config, actors: FakeActors) -> None:
    async def scenario() -> None:
        async with running_server(config, actors):
            client = await DaemonClient.connect(config)
            backend: Backend = client
            assert await backend.call(ListProcesses()) == ProcessList(processes=[])
            assert client.welcome.daemon_pid == os.getpid()
            await backend.close()
            assert client.closed

    run(scenario())


def test_concurrent_calls_pipeline_on_one_connection(config: Config, actors: FakeActors) -> None:
    async def scenario() -> None:
        async with running_server(config, actors), await DaemonClient.connect(config) as client:
            held = asyncio.create_task(client.call(TailLogs(name=HELD)))
            assert await client.call(ListProcesses()) == ProcessList(processes=[])
            assert not held.done()
            actors.gate.set()
            result = await held
            assert isinstance(result, LogTail)
            assert result.lines[0].text == "released"

    run(scenario())


def test_a_pm_error_comes_back_with_its_code_and_message(config: Config, actors: FakeActors) -> None:
    async def scenario() -> None:
        async with running_server(config, actors), await DaemonClient.connect(config) as client:
            with pytest.raises(NotFound) as caught:
                await client.call(StopProcess(name="web"))
            assert caught.value.code is ErrorCode.NOT_FOUND
            assert str(caught.value) == "no process named 'web': list_processes shows the known ones"
            assert await client.call(ListProcesses()) == ProcessList(processes=[])

    run(scenario())


def test_a_request_the_daemon_finds_invalid_fails_alone_as_invalid_argument(
    config: Config, actors: FakeActors
) -> None:
    async def scenario() -> None:
        async with running_server(config, actors), await DaemonClient.connect(config) as client:
            with pytest.raises(InvalidArgument, match=r"\$\.name") as caught:
                await client.call(StartProcess(name="bad name!", command="/bin/true"))
            assert caught.value.code is ErrorCode.INVALID_ARGUMENT
            assert await client.call(ListProcesses()) == ProcessList(processes=[])

    run(scenario())


def test_a_wrong_token_raises_unauthorized_saying_where_the_token_comes_from(
    config: Config, actors: FakeActors
) -> None:
    async def scenario() -> None:
        async with running_server(config, actors):
            with pytest.raises(Unauthorized, match="PM_DAEMON_TOKEN"):
                await DaemonClient.connect(config, token="an-entirely-wrong-token")

    run(scenario())


def test_no_daemon_raises_no_daemon_listening_naming_the_socket(config: Config) -> None:
    with pytest.raises(NoDaemonListening, match="no socket file") as caught:
        run(DaemonClient.connect(config))
    assert str(config.daemon_socket_path) in caught.value.message
    assert "`pm-actors daemon`" in caught.value.message


def test_a_stale_socket_reads_as_no_daemon_listening(config: Config) -> None:
    config.state_dir.mkdir(mode=0o700)
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(os.fspath(config.daemon_socket_path))
    dead.close()
    with pytest.raises(NoDaemonListening, match="connection refused"):
        run(DaemonClient.connect(config))


def test_a_socket_that_never_answers_hello_times_out_as_unavailable(config: Config) -> None:
    config.state_dir.mkdir(mode=0o700)
    with socket.socket(socket.AF_UNIX) as mute:
        mute.bind(os.fspath(config.daemon_socket_path))
        mute.listen()
        with pytest.raises(DaemonUnavailable, match=r"did not answer within 0\.2 s"):
            run(DaemonClient.connect(config, timeout=0.2))


def test_the_server_going_away_fails_pending_and_later_calls_with_daemon_unavailable(
    config: Config, actors: FakeActors
) -> None:
    async def scenario() -> None:
        async with running_server(config, actors) as server:
            client = await DaemonClient.connect(config)
            held = asyncio.create_task(client.call(TailLogs(name=HELD)))
            assert await client.call(ListProcesses()) == ProcessList(processes=[])  # held is in flight
            await server.close()
            with pytest.raises(DaemonUnavailable, match="may or may not have taken effect"):
                await held
            with pytest.raises(DaemonUnavailable, match="closed the connection"):
                await client.call(ListProcesses())
            await client.close()

    run(scenario())


def test_calls_after_close_fail_with_daemon_unavailable(config: Config, actors: FakeActors) -> None:
    async def scenario() -> None:
        async with running_server(config, actors):
            client = await DaemonClient.connect(config)
            await client.close()
            await client.close()
            with pytest.raises(DaemonUnavailable, match="client closed"):
                await client.call(ListProcesses())

    run(scenario())


def test_a_result_travels_as_the_struct_of_its_request_type(config: Config, actors: FakeActors) -> None:
    async def scenario() -> None:
        async with running_server(config, actors), await DaemonClient.connect(config) as client:
            actors.gate.set()
            result = await client.call(TailLogs(name=HELD))
            assert msgspec.structs.asdict(result)["next_after_id"] == 1

    run(scenario())
