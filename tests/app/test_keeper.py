"""The keeper with a stand-in daemon: a short Python script that speaks the keeper protocol.

The stand-in spawns one child that prints numbered lines, hands the keeper its pipe and
pidfd, and reports (in a file) what it reads and hears. The test kills the stand-in with
SIGKILL: the keeper starts another, which gets the same pipe and reads on where the first
stopped, and hears the child's exit status once the child ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pm_actors.app.keeper import retry_delay_s
from tests.helpers import PYTHON, process_is_gone, wait_until

STAND_IN = r"""
import json, os, subprocess, sys, time
from pm_actors import keeper_protocol as protocol
import socket

report = open(sys.argv[1], "a", buffering=1)
def say(**fields): report.write(json.dumps(fields) + "\n")

link = socket.socket(fileno=int(os.environ[protocol.KEEPER_FD_VARIABLE]))
protocol.send(link, "hello")
runs = []
while True:
    message, fds = protocol.receive(link)
    if message["op"] == "held":
        runs += [(run, fds[3 * i : 3 * i + 3]) for i, run in enumerate(message["runs"])]
        if message["last"]:
            break
    elif message["op"] == "exited":
        say(event="exited", pid=message["pid"], status=message["status"])
say(event="started", pid=os.getpid(), adopted=[run["pid"] for run, _ in runs])
if not runs:
    child = subprocess.Popen([sys.executable, "-u", "-c", sys.argv[2]], stdout=subprocess.PIPE)
    pidfd = os.pidfd_open(child.pid)
    stdout = child.stdout.fileno()
    fds = [stdout, os.dup(stdout), pidfd]
    protocol.send(link, "hold", fds, run_id=1, process_id=1, pid=child.pid, started_at=0)
    say(event="spawned", pid=child.pid)
else:
    stdout = runs[0][1][0]
link.setblocking(False)
pipe = os.fdopen(stdout, "rb", buffering=0)
buffer = b""
while True:
    try:
        message, _ = protocol.receive(link)
        say(event=message["op"], pid=message.get("pid"), status=message.get("status"))
        if message["op"] == "exited":
            protocol.send(link, "stop")
            sys.exit(0)
    except BlockingIOError:
        pass
    data = pipe.read(65536)
    if data:
        buffer += data
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            say(event="line", text=line.decode())
    time.sleep(0.01)
"""

PRINTER = "import time, sys\nfor i in range(60):\n    print(i, flush=True)\n    time.sleep(0.02)\nsys.exit(3)"


def events(report: Path) -> list[dict[str, Any]]:
    if not report.exists():
        return []
    return [json.loads(line) for line in report.read_text().splitlines() if line.strip()]


@pytest.fixture
def keeper(short_tmp: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    report = short_tmp / "report.jsonl"
    stand_in = [PYTHON, "-c", STAND_IN, str(report), PRINTER]
    command = [
        PYTHON,
        "-c",
        "import sys; from pm_actors.app.keeper import main; sys.exit(main(sys.argv[1:]))",
    ]
    popen = subprocess.Popen([*command, *stand_in], stderr=subprocess.DEVNULL)
    try:
        yield popen, report
    finally:
        if popen.poll() is None:
            popen.kill()
        popen.wait(timeout=10)


@pytest.mark.timeout(60)
def test_a_killed_daemon_is_replaced_and_the_child_runs_on_heard_to_its_end(
    keeper: tuple[subprocess.Popen[bytes], Path],
) -> None:
    popen, report = keeper
    spawned = wait_until(lambda: [e for e in events(report) if e["event"] == "spawned"], message="a child")
    child = spawned[0]["pid"]
    first = next(e["pid"] for e in events(report) if e["event"] == "started")
    wait_until(lambda: any(e["event"] == "line" for e in events(report)), message="a first line")

    os.kill(first, signal.SIGKILL)

    wait_until(
        lambda: [e for e in events(report) if e["event"] == "started" and e["pid"] != first],
        message="a new daemon",
    )
    assert popen.wait(timeout=30) == 0, "the keeper ends with the daemon that said stop"
    seen = [int(e["text"]) for e in events(report) if e["event"] == "line"]
    assert sorted(set(seen)) == list(range(60)), "every line reached a daemon, the outage included"
    assert {"event": "exited", "pid": child, "status": 3} in events(report)
    assert [e["adopted"] for e in events(report) if e["event"] == "started"][-1] == [child]
    assert process_is_gone(child)


def test_a_daemon_that_keeps_dying_young_is_retried_ever_slower() -> None:
    assert [retry_delay_s(n) for n in range(0, 11)] == [0.0, 0.0, 0.0, 0.0, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0]
