"""send_input: real children reading their standard input through the actor system."""

from __future__ import annotations

import pytest

from pm_actors.api import GetLogs, SendInput, StopProcess, WaitFor
from pm_actors.errors import InvalidArgument, NotRunning
from pm_actors.results import InputSent
from pm_actors.states import ProcessState
from tests.actors.system_client import SystemClient
from tests.helpers import wait_until

ECHO = """
import sys
print('ready', flush=True)
for line in sys.stdin:
    print('got', line.strip(), flush=True)
print('end of input', flush=True)
"""

NOT_READING = "import time\nprint('ready', flush=True)\ntime.sleep(60)"

LINGERING = "import sys, time\nsys.stdin.read()\nprint('end of input', flush=True)\ntime.sleep(60)"
"""Reads to the end of its input, then stays: its input is closed while it still runs."""


def transcript(client: SystemClient, name: str) -> list[tuple[str, str]]:
    page = client.call(GetLogs(name=name, limit=10_000))
    return [(line.stream, line.text) for line in page.lines]


@pytest.mark.timeout(30)
def test_input_reaches_the_process_and_the_transcript_reads_in_order(client: SystemClient) -> None:
    client.start("echo", ECHO, stdin=True)
    client.call(WaitFor(name="echo", until="log_line", pattern="ready"))
    sent = client.call(SendInput(name="echo", text="one\n"))
    assert sent == InputSent(name="echo", bytes_sent=4, bytes_given=4, eof=False)
    client.call(WaitFor(name="echo", until="log_line", pattern="got one"))
    client.call(SendInput(name="echo", text="two\nthree\n", eof=True))
    client.wait_for_state("echo", ProcessState.EXITED)
    assert transcript(client, "echo") == [
        ("stdout", "ready"),
        ("stdin", "one"),
        ("stdout", "got one"),
        ("stdin", "two"),
        ("stdin", "three"),
        ("stdout", "got two"),
        ("stdout", "got three"),
        ("stdout", "end of input"),
    ]


@pytest.mark.timeout(30)
def test_a_wait_for_a_line_is_not_satisfied_by_the_input_itself(client: SystemClient) -> None:
    client.start("echo", ECHO, stdin=True)
    client.call(WaitFor(name="echo", until="log_line", pattern="ready"))
    client.call(SendInput(name="echo", text="marker-xyz\n"))
    matched = client.call(WaitFor(name="echo", until="log_line", pattern="marker-xyz"))
    assert matched.satisfied and matched.matched_line.stream == "stdout"
    assert matched.matched_line.text == "got marker-xyz"


@pytest.mark.timeout(30)
def test_a_process_started_without_stdin_refuses_input_saying_how_to_get_it(client: SystemClient) -> None:
    client.start("plain", NOT_READING)
    with pytest.raises(InvalidArgument, match="stdin: true"):
        client.call(SendInput(name="plain", text="y\n"))


@pytest.mark.timeout(30)
def test_after_eof_or_the_end_input_is_refused(client: SystemClient) -> None:
    client.start("lingering", LINGERING, stdin=True)
    client.call(SendInput(name="lingering", eof=True))
    client.call(WaitFor(name="lingering", until="log_line", pattern="end of input"))
    with pytest.raises(InvalidArgument, match="closed"):
        client.call(SendInput(name="lingering", text="late\n"))
    client.call(StopProcess(name="lingering"))
    with pytest.raises(NotRunning):
        client.call(SendInput(name="lingering", text="later\n"))


@pytest.mark.timeout(30)
def test_input_beyond_a_full_pipe_is_not_waited_for_and_says_how_much_went(client: SystemClient) -> None:
    """A child that never reads: the pipe takes what fits (64 KiB on Linux), the rest is reported,
    and the actor answers at once instead of blocking on the pipe."""
    client.start("deaf", NOT_READING, stdin=True)
    client.call(WaitFor(name="deaf", until="log_line", pattern="ready"))
    chunk = "x" * 65_535 + "\n"
    first = client.call(SendInput(name="deaf", text=chunk))
    second = client.call(SendInput(name="deaf", text=chunk))
    assert first.bytes_sent + second.bytes_sent < 2 * len(chunk)
    assert second.bytes_sent < second.bytes_given and "did not fit" in second.summary()
    wait_until(
        lambda: any(
            "were delivered: the process is not reading" in text for _, text in transcript(client, "deaf")
        ),
        message="the note about undelivered input",
    )
    assert client.call(StopProcess(name="deaf")).state is ProcessState.STOPPED


@pytest.mark.timeout(30)
def test_nothing_to_send_is_an_invalid_argument(client: SystemClient) -> None:
    client.start("echo", ECHO, stdin=True)
    with pytest.raises(InvalidArgument, match="nothing to send"):
        client.call(SendInput(name="echo"))
