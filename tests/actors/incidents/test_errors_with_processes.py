"""Error tracking with real children, through the actor system: every crash explained in one
call, repeats counted, traces folded, resolutions that do not hold reopened."""

from __future__ import annotations

import shutil
import socket

import pytest

from pm_actors.api import ClearLogs, DeleteProcess, SendInput, StartProcess, WaitFor
from pm_actors.error_requests import GetErrors, GetLatestErrors, MarkErrorResolved
from pm_actors.error_results import ErrorList, ErrorOverview, ErrorRecord
from pm_actors.errors import ProcessNotFound
from pm_actors.results import ProcessRecord, WaitResult
from pm_actors.specs import Backoff, Limits
from pm_actors.states import ProcessState
from tests.actors.incidents import samples
from tests.actors.system_client import SystemClient, running_system
from tests.helpers import wait_until

FAST = Backoff(initial_s=0.05, multiplier=1.0, max_s=0.05, jitter=0.0)
MISSING_MODULE = "import flask_never_installed_here"
MISSING = "ModuleNotFoundError: No module named 'flask_never_installed_here'"


def printing(text: str, exit_code: int) -> str:
    """Python code that prints `text` to stderr as it is and exits with `exit_code`."""
    return f"import sys\nsys.stderr.write({text!r} + '\\n')\nsys.exit({exit_code})"


def explained(client: SystemClient, name: str, state: ProcessState) -> ProcessRecord:
    """The record once the process is in `state` and its crash explained (the writer links the
    crash to its error just after the run's end, and the record shows it then)."""
    return wait_until(
        lambda: (record := client.record(name)).state is state and record.crash is not None and record,
        message=f"{name} to be {state.value} with its crash explained",
    )


def only_error(client: SystemClient, name: str) -> ErrorRecord:
    listing: ErrorList = client.call(GetErrors(name=name))
    [error] = listing.errors
    return error


@pytest.mark.timeout(40)
def test_the_same_exception_in_five_runs_is_one_error_counted_five_times_and_each_crash_linked(
    client: SystemClient,
) -> None:
    client.start("web", MISSING_MODULE, restart="on-failure", max_restarts=4, backoff=FAST)
    record = explained(client, "web", ProcessState.FATAL)

    error = only_error(client, "web")
    assert (error.category, error.message, error.count, error.runs_affected) == (
        "module_not_found",
        MISSING,
        5,
        5,
    )
    assert error.trace[0] == "Traceback (most recent call last):" and error.trace[-1] == MISSING
    info = client.info("web")
    assert [(run.crash, run.error_id) for run in info.recent_runs] == [(MISSING, error.id)] * 5
    assert (record.crash, record.error_id) == (MISSING, error.id)
    assert f"last run crashed: {MISSING} (error #{error.id})" in record.summary()


@pytest.mark.timeout(30)
def test_an_address_already_in_use_is_port_in_use(client: SystemClient) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = f"import socket\nsocket.socket().bind(('127.0.0.1', {port}))"
        client.start("api", code, restart="never")
        record = explained(client, "api", ProcessState.CRASHED)
    error = only_error(client, "api")
    assert error.category == "port_in_use" and "Address already in use" in error.message
    assert record.crash == error.message


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("trace", "headline"),
    [
        (samples.NODE_ERROR, "TypeError: Cannot read properties of undefined (reading 'port')"),
        (samples.GO_PANIC, "panic: runtime error: index out of range [5] with length 3"),
    ],
    ids=["node", "go"],
)
def test_a_node_or_go_trace_folds_into_one_error_that_explains_the_crash(
    client: SystemClient, trace: str, headline: str
) -> None:
    client.start("svc", printing(trace, 2), restart="never")
    record = explained(client, "svc", ProcessState.CRASHED)
    error = only_error(client, "svc")
    assert error.message == headline and error.count == 1 and error.frames
    assert record.crash == headline and record.error_id == error.id


NODE = shutil.which("node")


@pytest.mark.timeout(30)
@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_a_real_node_crash_is_one_error_with_its_frames(client: SystemClient) -> None:
    script = "const cfg = undefined;\nfunction start() { return cfg.port; }\nstart();\n"
    client.call(StartProcess(name="node", command=str(NODE), args=["-e", script], cwd="/", restart="never"))
    record = explained(client, "node", ProcessState.CRASHED)
    error = only_error(client, "node")
    assert error.message == "TypeError: Cannot read properties of undefined (reading 'port')"
    assert error.frames[0].startswith("at start (") and record.error_id == error.id


@pytest.mark.timeout(30)
def test_an_error_resolved_that_happens_again_is_reopened_and_says_so(client: SystemClient) -> None:
    client.start("job", printing(samples.RUST_PANIC, 101), restart="never")
    client.wait_for_state("job", ProcessState.CRASHED)
    error = only_error(client, "job")
    resolved: ErrorRecord = client.call(MarkErrorResolved(error_id=error.id, note="set the env var"))
    assert resolved.resolved and not client.call(GetErrors(name="job", resolved=False)).errors

    client.call(StartProcess(name="job"))
    client.wait_for_state("job", ProcessState.CRASHED)

    back = only_error(client, "job")
    assert (back.id, back.resolved, back.reopened, back.count) == (error.id, False, 1, 2)
    assert (
        f"CAME BACK once after being resolved at {resolved.resolved_at} (note: set the env var)"
        in back.summary()
    )
    latest: ErrorOverview = client.call(GetLatestErrors())
    assert [item.id for item in latest.errors] == [error.id] and latest.by_process == {"job": 2}


@pytest.mark.timeout(30)
def test_a_quiet_crash_is_exit_nonzero_with_its_last_stderr_lines(client: SystemClient) -> None:
    client.start("quiet", printing("flushing caches\nshutting down", 3), restart="never")
    record = explained(client, "quiet", ProcessState.CRASHED)
    error = only_error(client, "quiet")
    assert (error.category, error.trace) == ("exit_nonzero", ["flushing caches", "shutting down"])
    assert record.crash == error.message == "exited on its own with code 3"
    assert record.summary().startswith("quiet: crashed: exited on its own with code 3 (error #")


@pytest.mark.timeout(40)
def test_a_sigkill_near_the_memory_limit_is_out_of_memory(client: SystemClient) -> None:
    code = (
        "import os, sys\nheld = bytearray(60 * 1024 * 1024)\nprint('allocated', flush=True)\n"
        "sys.stdin.readline()\nos.kill(os.getpid(), 9)"
    )
    limits = Limits(max_memory_mb=64, window_s=0.1, enforce_memory=False)
    client.start("hog", code, restart="never", limits=limits, stdin=True)
    wait_until(lambda: client.info("hog").breaches, timeout=20, message="a sample above the limit")
    client.call(SendInput(name="hog", text="go\n"))
    record = explained(client, "hog", ProcessState.CRASHED)
    error = only_error(client, "hog")
    assert error.category == "out_of_memory" and error.message.startswith("killed by SIGKILL at ")
    assert record.crash == error.message


@pytest.mark.timeout(60)
def test_errors_outlive_clear_logs_and_a_restart_of_the_daemon_and_go_with_their_process(
    pm_environment: dict[str, str],
) -> None:
    with running_system(pm_environment) as first:
        first.start("web", MISSING_MODULE, restart="never")
        first.wait_for_state("web", ProcessState.CRASHED)
        first.call(ClearLogs())
        kept = only_error(first, "web")
        assert kept.trace[-1] == MISSING
    with running_system(pm_environment) as second:
        assert only_error(second, "web") == kept
        record = second.record("web")
        assert (record.crash, record.error_id) == (MISSING, kept.id)
        second.call(DeleteProcess(name="web"))
        assert second.call(GetErrors()).errors == []
        with pytest.raises(ProcessNotFound):
            second.call(GetErrors(name="web"))


@pytest.mark.timeout(40)
def test_wait_for_exited_answers_at_the_end_of_each_run_of_a_crash_looping_process(
    client: SystemClient,
) -> None:
    code = "import sys\nprint('up', flush=True)\nsys.stdin.readline()\nraise RuntimeError('bad state')"
    slow = Backoff(initial_s=0.5, multiplier=1.0, max_s=0.5, jitter=0.0)
    client.start("loop", code, restart="on-failure", max_restarts=10, backoff=slow, stdin=True)
    ends: list[WaitResult] = []
    for _ in range(2):
        client.call(WaitFor(name="loop", until="log_line", pattern="up"))
        started = client.record("loop").run_id
        client.call(SendInput(name="loop", text="\n"))
        ended: WaitResult = client.call(WaitFor(name="loop", until="exited", timeout_s=20))
        assert ended.satisfied and ended.run is not None and ended.run.run_id == started
        ends.append(ended)
        client.wait_for_state("loop", ProcessState.RUNNING)
    assert [end.run.end_state for end in ends if end.run] == [ProcessState.CRASHED] * 2
    assert [end.run.crash for end in ends if end.run] == ["RuntimeError: bad state"] * 2
    assert ends[0].last_lines and ends[0].last_lines[0].text == "up"


@pytest.mark.timeout(30)
def test_a_wait_that_can_no_longer_hold_answers_at_once_with_why_and_the_last_lines(
    client: SystemClient,
) -> None:
    client.start("dead", MISSING_MODULE, restart="on-failure", max_restarts=0, backoff=FAST)
    client.wait_for_state("dead", ProcessState.FATAL)

    result: WaitResult = client.call(WaitFor(name="dead", until="port", port=9, timeout_s=600))

    assert not result.satisfied and result.state is ProcessState.FATAL
    assert result.gave_up is not None and result.gave_up.startswith("it is fatal")
    assert result.run is not None and result.run.crash == MISSING
    assert result.last_lines[-1].text == MISSING
