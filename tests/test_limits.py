"""Bounded requests on a real daemon: sizes, time budgets, malformed input, NUL bytes, spawn
failures and rate limits each get a coded answer, and the daemon keeps serving everyone."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from pm_actors.api import (
    DeleteProcess,
    GetSystemStats,
    ListProcesses,
    RestartProcess,
    SearchLogs,
    StartProcess,
    StopProcess,
    TailLogs,
    WaitFor,
)
from pm_actors.errors import DaemonUnavailable, ErrorCode, InvalidArgument, LimitReached, PmError, RateLimited
from pm_actors.ipc.protocol import LENGTH_PREFIX, PROTOCOL_VERSION, ErrorFrame
from pm_actors.log_results import SearchResult
from pm_actors.states import ProcessState
from tests.daemon_support import Daemon, DaemonLauncher, SyncClient
from tests.helpers import PYTHON, wait_until
from tests.ipc.support import RawPeer
from tests.ipc.support import run as run_bounded

SLOW_LINE = ("a " * 63 + "c ") * 30
"""A phrase of 64 `a`s never matches such a line, and FTS5 tries it at every position."""
SLOW_PHRASE = " ".join(["a"] * 64)
SLOW_LINES = 6000
"""Enough lines for a phrase search of seconds (~0.4 ms a line here)."""
PRINT_SLOW_LINES = f"import sys\nsys.stdout.write(({SLOW_LINE!r} + '\\n') * {SLOW_LINES})\nprint('done')"


def start_python(client: SyncClient, name: str, code: str, **fields: Any) -> None:
    client.call(StartProcess(name=name, command=PYTHON, args=["-u", "-c", code], cwd="/", **fields))


def fill_with_slow_lines(client: SyncClient) -> None:
    start_python(client, "slow", PRINT_SLOW_LINES, restart="never")
    assert client.call(WaitFor(name="slow", until="exited", timeout_s=60)).state is ProcessState.EXITED

    def indexed() -> bool:
        result: SearchResult = client.call(SearchLogs(query="done", limit=1))
        return result.unindexed == 0 and bool(result.matches)

    wait_until(indexed, timeout=60, interval=0.1, message="every slow line to be indexed")


async def slow_search_then_tail(client: SyncClient) -> list[str]:
    """Send a slow search, then a tail, on one connection (so the reader gets them in that
    order); return which answered first."""
    order: list[str] = []

    async def call(label: str, request: SearchLogs | TailLogs) -> None:
        try:
            await client.connection.call(request)
        finally:
            order.append(label)

    search = asyncio.create_task(call("search", SearchLogs(query=SLOW_PHRASE, mode="phrase")))
    tail = asyncio.create_task(call("tail", TailLogs(name="slow", limit=1)))
    await asyncio.gather(search, tail, return_exceptions=True)
    with pytest.raises(LimitReached, match=r"ran past its time budget of 0\.3 s"):
        search.result()
    return order


@pytest.mark.timeout(180)
def test_a_slow_search_is_cut_at_its_budget_while_other_reads_go_on_and_sigterm_interrupts_one(
    daemons: DaemonLauncher,
) -> None:
    daemon = daemons.start(PM_QUERY_TIMEOUT_MS="300")
    with daemon.client() as client:
        fill_with_slow_lines(client)
        assert client.run(slow_search_then_tail(client)) == ["tail", "search"]
        with pytest.raises(InvalidArgument, match=r"search_logs of \d+ bytes is over its limit"):
            client.call(SearchLogs(query="x " * 500_000))  # 1 MB
        assert client.call(ListProcesses()).processes
    daemon.terminate()

    patient = daemons.start(PM_QUERY_TIMEOUT_MS="600000")
    with patient.client() as client:
        started = time.monotonic()
        assert client.call(SearchLogs(query=SLOW_PHRASE, mode="phrase")).matches == []
        whole_search_s = time.monotonic() - started
    searching = threading.Thread(target=search_until_cut_off, args=(patient,))
    cpu_before = cpu_seconds(patient.pid)
    searching.start()
    wait_until(lambda: cpu_seconds(patient.pid) - cpu_before > 0.3, message="the search to be running")
    started = time.monotonic()
    patient.terminate()
    stop_s = time.monotonic() - started
    searching.join()
    assert "search_logs was interrupted: the daemon is stopping" in patient.log_text()
    assert stop_s < whole_search_s, "the daemon stopped without waiting for the search to end"


def search_until_cut_off(daemon: Daemon) -> None:
    with pytest.raises(DaemonUnavailable), daemon.client() as client:
        client.call(SearchLogs(query=SLOW_PHRASE, mode="phrase"))


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


@pytest.mark.timeout(60)
def test_a_spawn_that_fails_leaves_the_name_usable_at_once_and_holds_no_slot(
    daemons: DaemonLauncher, short_tmp: Path
) -> None:
    work = short_tmp / "work"
    work.mkdir()
    daemon = daemons.start(PM_MAX_PROCESSES="1")
    with daemon.client() as client:
        client.call(StartProcess(name="svc", command="/usr/bin/sleep", args=["60"], cwd=str(work)))
        client.call(StopProcess(name="svc", timeout_s=5))
        work.rmdir()
        with pytest.raises(PmError, match="could not start"):
            client.call(RestartProcess(name="svc"))
        assert client.call(WaitFor(name="svc", until="exited", timeout_s=10)).state is ProcessState.CRASHED
        client.call(StartProcess(name="other", command="/usr/bin/sleep", args=["60"], cwd="/"))
        client.call(StopProcess(name="other", timeout_s=5))
        assert client.call(StartProcess(name="svc", command="/usr/bin/sleep", args=["60"], cwd="/")).pid
        client.call(StopProcess(name="svc", timeout_s=5))
        assert client.call(DeleteProcess(name="svc")).deleted


@pytest.mark.timeout(60)
def test_nul_bytes_and_bad_variable_names_are_invalid_arguments_and_the_name_stays_free(
    daemon: Daemon,
) -> None:
    with daemon.client() as client:
        for args, env in ((["a\x00b"], {}), ([], {"X": "a\x00"}), ([], {"A=B": "1"}), ([], {"": "1"})):
            with pytest.raises(InvalidArgument):
                client.call(StartProcess(name="svc", command="/usr/bin/true", args=args, env=env, cwd="/"))
        assert client.call(ListProcesses()).processes == []
        client.call(StartProcess(name="svc", command="/usr/bin/true", cwd="/"))


@pytest.mark.timeout(60)
def test_a_burst_over_the_rate_limit_is_refused_with_a_retry_after(daemons: DaemonLauncher) -> None:
    daemon = daemons.start(PM_RATE_LIMIT="20/60s")
    with daemon.client() as client:
        for _ in range(20):
            client.call(ListProcesses())
        with pytest.raises(RateLimited, match=r"retry after \d+\.\d+ s") as refused:
            client.call(ListProcesses())
        assert refused.value.code is ErrorCode.RATE_LIMITED
        assert client.call(GetSystemStats()).cpu_count > 0, "another tool has its own bucket"


@pytest.mark.timeout(60)
def test_malformed_frames_get_coded_refusals_without_a_traceback(daemon: Daemon) -> None:
    """The launcher fails the test at teardown if the daemon logged a traceback."""
    version = bytes([PROTOCOL_VERSION])  # a positive fixint
    bad_token = b"\x83\xa5frame\xa5hello\xb0protocol_version" + version + b"\xa5token\xa4\xff\xfe\xfd\xfc"
    nested = b"\x83\xa5frame\xa7request\xa2id\x07\xa7request" + b"\x91" * 100_000 + b"\xc0"

    async def refusal(peer: RawPeer, body: bytes) -> ErrorFrame:
        await peer.send_bytes(LENGTH_PREFIX.pack(len(body)) + body)
        frame = await peer.receive()
        assert isinstance(frame, ErrorFrame)
        await peer.close()
        return frame

    async def misbehave() -> list[str]:
        token = daemon.config.daemon_token or ""
        codes = [(await refusal(await RawPeer.open(daemon.config), bad_token)).code]
        welcomed = await RawPeer.open(daemon.config)
        await welcomed.hello(token)
        codes.append((await refusal(welcomed, nested)).code)
        return codes

    assert run_bounded(misbehave()) == [ErrorCode.UNAUTHORIZED, ErrorCode.PROTOCOL_ERROR]
    assert daemon.call(ListProcesses()).processes == []
