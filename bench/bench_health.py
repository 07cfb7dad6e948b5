"""Health check figures: what one check costs beyond the check's own work.

Run: /tmp/venv/bin/python bench/bench_health.py [--runs N]

For each kind of check, the median (p50) over N runs of:
- direct: the bare operation, no pm-actors (subprocess.run of the command; a TCP connect and
  close; an http.client GET) against the same local targets;
- runner: our check function alone (`health_checks.run_check`, on the calling thread);
- actor: `CheckHealthNow` told to a live HealthActor until its reply holds the report (pool
  thread, message back, report built, told to a stand-in process actor and to the writer).
The three are interleaved run by run, so drift hits them alike. Overhead = actor - direct.
Target (bench/README.md): overhead < 5 ms over the check itself.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pykka
from bench_log_store import KEEP_EVERYTHING

from pm_actors.actors.executables import ExecutablePolicy
from pm_actors.actors.health import HealthActor
from pm_actors.actors.health_checks import run_check
from pm_actors.actors.log_writer import LogWriterActor
from pm_actors.actors.observer_messages import CheckHealthNow, WatchHealth
from pm_actors.actors.scheduler import Scheduler
from pm_actors.actors.store import open_write_connection
from pm_actors.config import load_config
from pm_actors.specs import CommandCheck, HealthCheck, HttpCheck, TcpCheck

POLICY = ExecutablePolicy(
    load_config(
        {
            "HOME": "/tmp",
            "PM_ALLOWED_COMMANDS": f"{os.path.dirname(os.path.realpath(sys.executable))},/usr/bin,/bin",
        }
    )
)
"""What a daemon with the default allowlist plus the interpreter's directory allows."""

TARGET_OVERHEAD_MS = 5.0
REPLY_TIMEOUT_S = 10.0
WARMUP_RUNS = 3
HTTP_SERVER = """
import http.server
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


class Sink(pykka.ThreadingActor):
    """Stands in for the ProcessActor that is told each HealthObserved."""

    def on_receive(self, message: Any) -> None:
        return None


@contextmanager
def http_server_child() -> Iterator[int]:
    """A local HTTP server in its own process (as a checked server would be); yields its port."""
    child = subprocess.Popen([sys.executable, "-u", "-c", HTTP_SERVER], stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None
        yield int(child.stdout.readline())
    finally:
        child.kill()
        child.wait()


def direct_command(check: CommandCheck) -> Callable[[], Any]:
    # No timeout=: with one, Popen.wait polls with sleeps, which costs ~1 ms and would flatter us.
    return lambda: subprocess.run([check.command, *check.args], stdin=subprocess.DEVNULL, capture_output=True)


def direct_tcp(check: TcpCheck) -> Callable[[], Any]:
    return lambda: socket.create_connection((check.host, check.port), timeout=check.timeout_s).close()


def direct_http(port: int) -> Callable[[], Any]:
    def get() -> int:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("GET", "/")
            return connection.getresponse().status
        finally:
            connection.close()

    return get


def through_actor(health: pykka.ActorRef[Any], name: str) -> Callable[[], Any]:
    def ask() -> Any:
        reply: concurrent.futures.Future[Any] = concurrent.futures.Future()
        health.tell(CheckHealthNow(name, reply))
        report = reply.result(timeout=REPLY_TIMEOUT_S)
        if not report.healthy:
            raise RuntimeError(f"the benchmark's check of {name} failed: {report.detail}")
        return report

    return ask


def runner(check: HealthCheck) -> Callable[[], Any]:
    return lambda: run_check(check, POLICY)


def bench_cases(port: int) -> list[tuple[str, HealthCheck, Callable[[], Any]]]:
    """(label, check, the same work done directly) for each kind, against local targets."""
    true = CommandCheck(command=shutil.which("true") or "/bin/true")
    python = CommandCheck(command=sys.executable, args=["-c", "pass"])
    tcp = TcpCheck(port=port)
    return [
        (f"command {true.command}", true, direct_command(true)),
        ("command python -c pass", python, direct_command(python)),
        ("tcp connect", tcp, direct_tcp(tcp)),
        ("http GET", HttpCheck(url=f"http://127.0.0.1:{port}/"), direct_http(port)),
    ]


def interleaved_medians(actions: list[Callable[[], Any]], runs: int) -> list[float]:
    """Median ms of each action, running them in turn within each round."""
    timings: list[list[float]] = [[] for _ in actions]
    for round_number in range(WARMUP_RUNS + runs):
        for action, samples in zip(actions, timings, strict=True):
            started = time.perf_counter()
            action()
            if round_number >= WARMUP_RUNS:
                samples.append((time.perf_counter() - started) * 1000)
    return [statistics.median(samples) for samples in timings]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    arguments = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="pmbench", dir="/tmp"))
    scheduler = Scheduler()
    scheduler.start()
    try:
        with http_server_child() as port:
            open_write_connection(folder / "pm.db").close()
            writer = LogWriterActor.start(folder / "pm.db", KEEP_EVERYTHING)
            health = HealthActor.start(scheduler, writer, POLICY)
            sink = Sink.start()
            print(f"health check p50 over {arguments.runs} runs (ms)")
            print(
                f"  {'check':<24} {'direct':>8} {'runner':>8} {'actor':>8}"
                f" {'actor-direct':>13} {'ratio':>6} {'actor-runner':>13}"
            )
            for process_id, (label, check, direct) in enumerate(bench_cases(port), start=1):
                name = f"bench-{process_id}"
                health.tell(WatchHealth(name, process_id, 1, check, 3600.0, sink))
                actions = [direct, runner(check), through_actor(health, name)]
                direct_ms, runner_ms, actor_ms = interleaved_medians(actions, arguments.runs)
                overhead = actor_ms - direct_ms
                verdict = "ok" if overhead < TARGET_OVERHEAD_MS else "OVER TARGET"
                ratio = actor_ms / direct_ms
                print(
                    f"  {label:<24} {direct_ms:8.3f} {runner_ms:8.3f} {actor_ms:8.3f}"
                    f" {overhead:+13.3f} {ratio:5.2f}x {actor_ms - runner_ms:+13.3f}  {verdict}"
                )
            print(f"target: actor - direct < {TARGET_OVERHEAD_MS:g} ms")
            print("actor - runner: the actor's own part (pool thread, messages, report, tells)")
    finally:
        pykka.ActorRegistry.stop_all()
        scheduler.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
