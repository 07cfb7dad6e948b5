"""The real daemon: `python -m pm_actors daemon` processes, real children, SQLite and sockets.

Each test starts its own daemon(s) through the `daemons` fixture (conftest), which SIGTERMs
every one at teardown (SIGKILL past a bound); tests that kill a daemon themselves also end what
it left.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
from contextlib import suppress
from pathlib import Path

import psutil
import pytest

from pm_actors.api import (
    GetLogs,
    KillProcess,
    ListProcesses,
    RequestUnion,
    SearchLogs,
    StartProcess,
    StopProcess,
    TailLogs,
    Topic,
    WaitFor,
)
from pm_actors.errors import WIRE_CLASSES, ErrorCode, PmError
from pm_actors.ipc.protocol import (
    LENGTH_PREFIX,
    MAX_HELLO_BYTES,
    PROTOCOL_VERSION,
    ErrorFrame,
    Hello,
    RequestFrame,
    Welcome,
    encode_frame,
)
from pm_actors.request_base import MAX_CHARS
from pm_actors.results import ProcessRecord
from pm_actors.states import ProcessState
from tests.daemon_support import (
    DAEMON_COMMAND,
    Daemon,
    DaemonLauncher,
    PeakRss,
    SyncClient,
    accepts_connections,
    all_lines,
    free_tcp_port,
    wait_gone,
)
from tests.helpers import PYTHON, process_is_gone, python_child, wait_until
from tests.ipc.support import RawPeer
from tests.ipc.support import run as run_bounded

STATE_TIMEOUT_S = 20.0


def start(client: SyncClient, name: str, code: str, restore: bool | None = None) -> ProcessRecord:
    command, args = python_child(code)
    request = StartProcess(name=name, command=command, args=args, cwd="/", restore=restore)
    record: ProcessRecord = client.call(request)
    assert record.state is ProcessState.RUNNING and record.pid is not None
    return record


def record_of(client: SyncClient, name: str) -> ProcessRecord:
    records: list[ProcessRecord] = client.call(ListProcesses()).processes
    return next(record for record in records if record.name == name)


def wait_for_state(client: SyncClient, name: str, state: ProcessState) -> ProcessRecord:
    return wait_until(
        lambda: (record := record_of(client, name)).state is state and record,
        timeout=STATE_TIMEOUT_S,
        message=f"{name} to be {state.value}",
    )


def wait_for_lines(client: SyncClient, name: str, count: int) -> list[str]:
    return wait_until(
        lambda: len(lines := all_lines(client, name)) >= count and lines,
        timeout=STATE_TIMEOUT_S,
        message=f"{count} line(s) from {name}",
    )


SLEEPER = "import time\nprint('ready')\ntime.sleep(60)"

PARENT_OF_A_SLEEPER = """
import subprocess, sys, time
grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print("grandchild", grandchild.pid)
time.sleep(60)
"""

TICKER = "import time\nn = 0\nwhile True:\n    print('tick', n)\n    n += 1\n    time.sleep(0.05)"


def last_counter(client: SyncClient, name: str) -> int | None:
    """The number on the newest line of a child printing `<word> <n>` lines, if any yet."""
    lines = client.call(TailLogs(name=name, limit=1)).lines
    return int(lines[-1].text.split()[1]) if lines else None


# The daemon never imports mcp ---------------------------------------------------------------------

MCP_PACKAGES = ("mcp", "mcp_types", "uvicorn", "starlette")
"""The MCP SDK, and the HTTP server that `pm-actors mcp --http` brings with it."""

IMPORT_EVERY_DAEMON_MODULE = f"""
import importlib, json, pkgutil, sys
import pm_actors, pm_actors.actors, pm_actors.app, pm_actors.ipc
imported = []
for package in (pm_actors, pm_actors.actors, pm_actors.app, pm_actors.ipc):
    for module in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        if module.ispkg or module.name.endswith(".__main__"):
            continue  # subpackages: the three above are walked, mcp_shim is the MCP side
        importlib.import_module(module.name)
        imported.append(module.name)
loaded = sorted(name for name in sys.modules if name.split(".")[0] in {MCP_PACKAGES!r})
print(json.dumps({{"imported": imported, "mcp": loaded}}))
"""


@pytest.mark.timeout(30)
def test_no_module_of_the_daemon_side_imports_mcp(short_tmp: Path, pm_environment: dict[str, str]) -> None:
    """Every module of `pm_actors`, `pm_actors.actors`, `pm_actors.app` and `pm_actors.ipc` (all but the
    `mcp_shim` subpackage and `__main__`, which runs the CLI) is imported in a fresh
    interpreter, which then lists the `mcp` / `mcp_types` modules it has loaded: none."""
    finished = subprocess.run(
        [PYTHON, "-c", IMPORT_EVERY_DAEMON_MODULE],
        cwd=short_tmp,
        env=pm_environment,
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    report = json.loads(finished.stdout)
    assert {
        "pm_actors.app.daemon",
        "pm_actors.app.cli",
        "pm_actors.actors.system",
        "pm_actors.ipc.server",
    } <= set(report["imported"])
    assert report["mcp"] == []


RUN_DAEMON_AND_REPORT_MODULES = f"""
import atexit, json, runpy, sys
report_path = sys.argv[1]

def report():
    loaded = sorted(name for name in sys.modules if name.split(".")[0] in {MCP_PACKAGES!r})
    with open(report_path, "w") as file:
        json.dump({{"mcp": loaded, "modules": sorted(sys.modules)}}, file)

atexit.register(report)
sys.argv = ["pm-actors", "daemon"]
runpy.run_module("pm_actors", run_name="__main__", alter_sys=True)
"""


@pytest.mark.timeout(30)
def test_a_live_daemon_that_served_requests_has_never_loaded_mcp(
    daemons: DaemonLauncher, short_tmp: Path
) -> None:
    """The daemon runs exactly as `python -m pm_actors daemon` (runpy runs the package's
    `__main__`), with an atexit hook that writes the `sys.modules` of the live process when
    it exits: after it served lifecycle, log and search requests and pushed their events, `mcp`
    (nor the HTTP server the shim brings) was never loaded, nor what only costs it memory: the
    command line's parser and client session, OpenSSL, shutil's compression modules."""
    report_path = short_tmp / "modules.json"
    daemon = daemons.start([PYTHON, "-c", RUN_DAEMON_AND_REPORT_MODULES, str(report_path)])
    with daemon.client() as client:
        client.run(
            client.connection.subscribe(frozenset({Topic("state"), Topic("output")}), lambda topics: None)
        )
        start(client, "worker", "import time\nprint('hello world')\ntime.sleep(60)")
        wait_for_lines(client, "worker", 1)
        client.call(SearchLogs(query="hello", name="worker"))
        client.call(SearchLogs(query="ell", mode="substring"))
        client.call(TailLogs(name="worker"))
        client.call(StopProcess(name="worker"))
        start(client, "victim", SLEEPER)
        client.call(KillProcess(name="victim"))
    assert daemon.terminate() == 0
    report = json.loads(report_path.read_text())
    assert {"pm_actors.app.daemon", "pm_actors.ipc.server", "pm_actors.actors.supervisor"} <= set(
        report["modules"]
    )
    assert report["mcp"] == []
    assert not set(report["modules"]) & DAEMON_NEVER_LOADS


DAEMON_NEVER_LOADS = frozenset(
    {
        "argparse",
        "pm_actors.app.cli",
        "pm_actors.app.caller",
        "pm_actors.ipc.session",
        "ssl",
        "shutil",
        "lzma",
    }
)


# Paging and search --------------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_get_logs_pages_return_every_line_in_order_and_search_finds_a_word_printed_once(
    daemon: Daemon,
) -> None:
    code = "for i in range(2000):\n    print(f'line {i}' + (' quokkazanzibar' if i == 1234 else ''))"
    expected = [f"line {i}" + (" quokkazanzibar" if i == 1234 else "") for i in range(2000)]
    with daemon.client() as client:
        start(client, "numbered", code)
        wait_for_state(client, "numbered", ProcessState.EXITED)
        texts: list[str] = []
        ids: list[int] = []
        after_id, pages = 0, 0
        while True:
            page = client.call(GetLogs(name="numbered", after_id=after_id, limit=300))
            pages += 1
            texts.extend(line.text for line in page.lines)
            ids.extend(line.id for line in page.lines)
            after_id = page.next_after_id
            if not page.has_more:
                break
        assert texts == expected
        assert pages == 7 and ids == sorted(ids) and len(set(ids)) == 2000

        for query, name in (("quokkazanzibar", "numbered"), ("1234 quokkazanzibar", None)):
            found = client.call(SearchLogs(query=query, name=name, mode="words"))
            assert [(match.name, match.text) for match in found.matches] == [
                ("numbered", "line 1234 quokkazanzibar")
            ]
            assert not found.has_more and found.unindexed == 0


# stop_process ends the whole group ----------------------------------------------------------------


@pytest.mark.timeout(30)
def test_stop_process_ends_the_child_its_process_group_and_a_grandchild_in_it(daemon: Daemon) -> None:
    with daemon.client() as client:
        started = start(client, "tree", PARENT_OF_A_SLEEPER)
        assert started.pid is not None
        grandchild = int(wait_for_lines(client, "tree", 1)[0].split()[1])
        assert os.getpgid(grandchild) == started.pid  # the grandchild is in the child's group

        stopped = client.call(StopProcess(name="tree"))

        assert stopped.state is ProcessState.STOPPED and stopped.pid is None
        assert stopped.exit_signal == "SIGTERM" and stopped.end_reason == "stopped on request"
        assert record_of(client, "tree").state is ProcessState.STOPPED
        wait_gone([started.pid], "the child to be gone", check=process_is_gone)
        wait_gone([grandchild], "the grandchild to be gone", check=process_is_gone)
        wait_gone([started.pid], "the process group to be gone")


# Children outlive the connection that started them ------------------------------------------------


@pytest.mark.timeout(30)
def test_a_child_keeps_running_after_the_client_that_started_it_disconnects(daemon: Daemon) -> None:
    with daemon.client() as first:
        started = start(first, "survivor", TICKER)
    assert started.pid is not None

    with daemon.client() as second:
        record = record_of(second, "survivor")
        assert record.state is ProcessState.RUNNING and record.pid == started.pid
        seen = wait_until(lambda: last_counter(second, "survivor"), message="a first tick")
        wait_until(
            lambda: (last_counter(second, "survivor") or 0) > seen,
            message="the child to keep printing after its client left",
        )
    assert not process_is_gone(started.pid)


# SIGTERM to the daemon ----------------------------------------------------------------------------


@pytest.mark.timeout(40)
def test_a_shutdown_with_a_wait_whose_client_was_killed_logs_no_traceback(daemon: Daemon) -> None:
    """The client of a pending wait_for vanishes; at shutdown the abandoned wait is answered
    into a future nobody awaits any more: quietly, with no InvalidStateError in the log."""
    with daemon.client() as client:
        start(client, "quiet", SLEEPER)

    async def wait_then_vanish() -> None:
        peer = await RawPeer.open(daemon.config)
        assert isinstance(await peer.hello(daemon.environment["PM_DAEMON_TOKEN"]), Welcome)
        request = WaitFor(name="quiet", until="log_line", pattern="never printed", timeout_s=600)
        await peer.send(RequestFrame(id=1, request=request))
        await asyncio.to_thread(
            wait_until, lambda: "wait_for" in daemon.log_text(), message="the daemon to take the wait"
        )
        peer.writer.transport.abort()

    run_bounded(wait_then_vanish())
    assert daemon.terminate() == 0
    log = daemon.log_text()
    assert "InvalidStateError" not in log
    assert "Traceback" not in log


@pytest.mark.timeout(40)
def test_sigterm_ends_every_child_removes_the_socket_and_a_new_daemon_knows_the_definitions(
    daemons: DaemonLauncher, daemon: Daemon
) -> None:
    with daemon.client() as client:
        # restore=False: the new daemon shows how they ended, rather than running them again.
        pids = [start(client, f"sleeper{i}", SLEEPER, restore=False).pid for i in range(3)]
        parent = start(client, "tree", PARENT_OF_A_SLEEPER, restore=False).pid
        grandchild = int(wait_for_lines(client, "tree", 1)[0].split()[1])
        wait_for_lines(client, "sleeper2", 1)
    children = [pid for pid in [*pids, parent] if pid is not None]
    assert len(children) == 4

    assert daemon.terminate() == 0

    wait_gone([*children, grandchild], "every child and grandchild to be gone", check=process_is_gone)
    wait_gone(children, "every process group to be gone")
    assert not daemon.config.daemon_socket_path.exists()

    fresh = daemons.start()
    with fresh.client() as client:
        records = {record.name: record for record in client.call(ListProcesses()).processes}
        assert sorted(records) == ["sleeper0", "sleeper1", "sleeper2", "tree"]
        for record in records.values():
            assert record.state is ProcessState.STOPPED and record.pid is None
            assert record.end_reason == "stopped because the daemon is shutting down"
        assert all_lines(client, "sleeper2") == ["ready"]


# Bad clients are refused, good ones keep being served ---------------------------------------------


@pytest.mark.timeout(30)
def test_a_wrong_token_and_garbage_frames_are_refused_while_other_clients_keep_being_served(
    daemon: Daemon,
) -> None:
    config = daemon.config
    token = config.daemon_token
    assert token is not None

    async def refusal_after(peer: RawPeer, data: bytes) -> ErrorFrame:
        await peer.send_bytes(data)
        refusal = await peer.receive()
        assert isinstance(refusal, ErrorFrame)
        assert await peer.receive() is None  # and the daemon closed the connection
        await peer.close()
        return refusal

    async def misbehave() -> list[ErrorFrame]:
        garbage = LENGTH_PREFIX.pack(3) + b"\xc1\xc1\xc1"  # 0xc1 is never valid msgpack
        refusals = []
        wrong_hello = encode_frame(Hello(protocol_version=PROTOCOL_VERSION, token="x" * len(token)))
        refusals.append(await refusal_after(await RawPeer.open(config), wrong_hello))
        refusals.append(await refusal_after(await RawPeer.open(config), garbage))
        authenticated = await RawPeer.open(config)
        assert isinstance(await authenticated.hello(token), Welcome)
        refusals.append(await refusal_after(authenticated, garbage))
        oversized = LENGTH_PREFIX.pack(MAX_HELLO_BYTES + 1)
        refusals.append(await refusal_after(await RawPeer.open(config), oversized))
        return refusals

    with daemon.client() as before:
        assert before.call(ListProcesses()).processes == []
        refusals = run_bounded(misbehave())
        assert before.call(ListProcesses()).processes == []

    assert [refusal.code for refusal in refusals] == [
        ErrorCode.UNAUTHORIZED,
        ErrorCode.PROTOCOL_ERROR,
        ErrorCode.PROTOCOL_ERROR,
        ErrorCode.PROTOCOL_ERROR,
    ]
    assert "wrong token" in refusals[0].message
    assert str(MAX_HELLO_BYTES) in refusals[3].message
    with daemon.client() as after:
        assert after.connection.welcome.daemon_pid == daemon.pid
        assert after.call(ListProcesses()).processes == []
    assert daemon.popen.poll() is None


# One daemon per database --------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_a_second_daemon_on_the_same_database_is_refused_naming_the_first_ones_pid(
    daemon: Daemon, short_tmp: Path
) -> None:
    socket_before = daemon.config.daemon_socket_path.stat()

    second = subprocess.run(
        list(DAEMON_COMMAND),
        cwd=short_tmp,
        env=daemon.environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=20,
    )

    assert second.returncode != 0
    assert f"pid {daemon.pid}" in second.stderr
    socket_after = daemon.config.daemon_socket_path.stat()
    assert (socket_after.st_dev, socket_after.st_ino) == (socket_before.st_dev, socket_before.st_ino)
    with daemon.client() as client:
        assert client.connection.welcome.daemon_pid == daemon.pid
        assert client.call(ListProcesses()).processes == []


# A stale socket and the leftovers of a killed daemon ----------------------------------------------


@pytest.mark.timeout(40)
def test_a_new_daemon_replaces_the_stale_socket_of_a_killed_one_and_ends_the_children_it_left(
    daemons: DaemonLauncher, daemon: Daemon
) -> None:
    with daemon.client() as client:
        leftover_pid = start(client, "leftover", SLEEPER, restore=False).pid  # shown ended, not restored
        wait_for_lines(client, "leftover", 1)
    assert leftover_pid is not None
    leftover = psutil.Process(leftover_pid)
    try:
        daemon.kill()
        socket_path = daemon.config.daemon_socket_path
        stale = socket_path.stat()
        assert stat.S_ISSOCK(stale.st_mode) and not accepts_connections(daemon.config)
        assert not process_is_gone(leftover_pid)  # SIGKILL left the child behind

        successor = daemons.start()  # waits until the socket path accepts connections again

        wait_gone([leftover_pid], "the new daemon to end the child the dead one left")
        with successor.client() as client:
            assert client.connection.welcome.daemon_pid == successor.pid
            record = record_of(client, "leftover")
            assert record.state is ProcessState.STOPPED and record.pid is None
            assert client.call(ListProcesses()).processes == [record]
    finally:
        with suppress(psutil.Error):  # only if the daemon did not: psutil checks it is that process
            if leftover.status() != psutil.STATUS_ZOMBIE:
                leftover.kill()


# Backpressure -------------------------------------------------------------------------------------

FLOOD_SECONDS = 3.0
FLOOD = f"""
import sys, time
end = time.monotonic() + {FLOOD_SECONDS}
n = 0
while time.monotonic() < end:
    sys.stdout.write("".join(f"flood {{i}}\\n" for i in range(n, n + 1000)))
    n += 1000
print("total", n)
"""
QUIET = TICKER.replace("tick", "quiet")

MAX_DAEMON_RSS_BYTES = 160 * 1024 * 1024
"""Measured on 2 cores (RSS sampled every 10 ms): ~33 MiB idle, a peak of 97-104 MiB while a
child floods ~1.5M short lines in 3 s. That is the 4 MiB of text the IO thread lets one run
have uncommitted, held as ~350k short-line objects (~50 MiB), plus the writer's batch and the
baseline. With that pause disabled (the cap patched to 10**12) the same flood peaked at
532 MiB: the bound sits between the two, with 1.6x margin over the measured peak."""

MIN_QUIET_ADVANCES = 3
"""A read flushes the writer, so it waits behind the flood's uncommitted text (at most
4 MiB): about one read per 0.5 s here, six or so during the 3 s flood; three new quiet
counters during the flood show it is not stalled."""


@pytest.mark.timeout(60)
def test_a_flooding_child_stalls_no_quiet_one_keeps_the_daemon_small_and_loses_no_line(
    daemon: Daemon,
) -> None:
    with daemon.client() as client:
        start(client, "quiet", QUIET)
        wait_until(lambda: last_counter(client, "quiet") is not None, message="the quiet child's first line")
        start(client, "flood", FLOOD)
        counters_during_flood: list[int] = []

        def sample() -> bool:
            flood_running = record_of(client, "flood").state is ProcessState.RUNNING
            counter = last_counter(client, "quiet")
            if flood_running and counter is not None:
                counters_during_flood.append(counter)
            return not flood_running

        with PeakRss(daemon.pid) as rss:
            wait_until(sample, timeout=40, interval=0.02, message="the flood to end")
        client.call(StopProcess(name="quiet"))

        flood = wait_for_state(client, "flood", ProcessState.EXITED)
        lines = all_lines(client, "flood")

    print(f"daemon peak RSS during the flood: {rss.peak_bytes / 2**20:.1f} MiB over {rss.samples} samples")
    assert rss.samples > 10 and rss.peak_bytes < MAX_DAEMON_RSS_BYTES
    assert counters_during_flood == sorted(counters_during_flood)  # its lines stay in order
    assert len(set(counters_during_flood)) > MIN_QUIET_ADVANCES, counters_during_flood

    assert flood.exit_code == 0
    total = int(lines[-1].removeprefix("total "))
    assert total > 100_000  # it did flood
    assert len(lines) == total + 1
    assert lines == [f"flood {i}" for i in range(total)] + [f"total {total}"]


# Output complete at the end -----------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_a_child_that_prints_and_exits_at_once_has_all_its_output_stored_when_first_seen_exited(
    daemon: Daemon,
) -> None:
    code = "import sys\nfor i in range(3000): print('burst', i)\nsys.stderr.write('bye')"
    with daemon.client() as client:
        start(client, "burst", code)
        record = wait_for_state(client, "burst", ProcessState.EXITED)
        lines = client.call(GetLogs(name="burst", limit=10_000, max_chars=MAX_CHARS))
    assert record.exit_code == 0 and record.pid is None
    assert [line.text for line in lines.lines] == [f"burst {i}" for i in range(3000)] + ["bye"]
    assert lines.lines[-1].stream == "stderr" and not lines.has_more


# Refusals come back as coded errors ---------------------------------------------------------------


@pytest.mark.timeout(30)
def test_refused_requests_come_back_with_their_error_code_and_the_daemon_keeps_serving(
    daemons: DaemonLauncher, short_tmp: Path
) -> None:
    outside = short_tmp / "outside"
    outside.mkdir()
    tool = outside / "tool"
    tool.write_text("#!/bin/sh\nexit 0\n")
    tool.chmod(0o755)
    allowed = short_tmp / "allowed"
    allowed.mkdir()
    (allowed / "escape").symlink_to(tool)
    real_tool = os.path.realpath(tool)
    roots = daemons.environment["PM_ALLOWED_COMMANDS"]
    daemon = daemons.start(PM_ALLOWED_COMMANDS=f"{roots},{allowed}")

    refused: list[tuple[RequestUnion, ErrorCode, list[str]]] = [
        (
            StartProcess(name="outside", command=str(tool), cwd="/"),
            ErrorCode.FORBIDDEN_COMMAND,
            [real_tool, "outside the allowed roots"],
        ),
        (
            StartProcess(name="escape", command=str(allowed / "escape"), cwd="/"),
            ErrorCode.FORBIDDEN_COMMAND,
            [real_tool, "outside the allowed roots"],
        ),
        (
            StartProcess(name="launcher", command="env", args=[PYTHON, "-c", "pass"], cwd="/"),
            ErrorCode.FORBIDDEN_COMMAND,
            ["'env'", "denied"],
        ),
        (
            StartProcess(name="missing", command="pm-no-such-program", cwd="/"),
            ErrorCode.NOT_FOUND,
            ["'pm-no-such-program'", "not found"],
        ),
        (StopProcess(name="ghost"), ErrorCode.NOT_FOUND, ["'ghost'"]),
        (GetLogs(name="ghost"), ErrorCode.NOT_FOUND, ["'ghost'"]),
        (
            StartProcess(name="nowhere", command=PYTHON, cwd=str(short_tmp / "no-such-dir")),
            ErrorCode.INVALID_ARGUMENT,
            ["cwd", "no-such-dir"],
        ),
        (GetLogs(name="ghost", limit=0), ErrorCode.INVALID_ARGUMENT, ["$.limit"]),
        (StopProcess(name="not a name!"), ErrorCode.INVALID_ARGUMENT, ["$.name"]),
    ]
    with daemon.client() as client:
        for request, code, fragments in refused:
            with pytest.raises(PmError) as raised:
                client.call(request)
            error = raised.value
            assert error.code is code, (request, error.message)
            assert type(error) is WIRE_CLASSES[code], "the client rebuilds the class of the code"
            for fragment in fragments:
                assert fragment in error.message, (request, error.message)

        assert client.call(ListProcesses()).processes == []  # nothing refused was registered
        start(client, "fine", "print('still serving')")
        assert wait_for_lines(client, "fine", 1) == ["still serving"]
    assert daemon.popen.poll() is None


# TCP ----------------------------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_the_tcp_transport_on_loopback_serves_the_same_requests(daemons: DaemonLauncher) -> None:
    port = free_tcp_port()
    daemon = daemons.start(
        PM_DAEMON_TRANSPORT="tcp", PM_DAEMON_TCP_BIND="127.0.0.1", PM_DAEMON_TCP_PORT=str(port)
    )
    assert daemon.config.daemon_transport == "tcp" and daemon.config.daemon_tcp_port == port
    with daemon.client() as client:
        assert client.connection.welcome.daemon_pid == daemon.pid
        assert client.call(ListProcesses()).processes == []
        start(client, "over-tcp", "print('via tcp')")
        record = wait_for_state(client, "over-tcp", ProcessState.EXITED)
        assert client.call(ListProcesses()).processes == [record]
        assert all_lines(client, "over-tcp") == ["via tcp"]
    assert not daemon.config.daemon_socket_path.exists()
