"""Reading /proc: the children of a process, as the stop of a run looks for them."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator

import pytest

from pm_actors.actors.sampling import children_of
from tests.helpers import PYTHON, wait_until

PARENT_OF_ONE = "import os, time\nif os.fork() == 0:\n    time.sleep(60)\nelse:\n    time.sleep(60)\n"


@pytest.fixture
def parent() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([PYTHON, "-c", PARENT_OF_ONE], start_new_session=True)
    try:
        yield process
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.mark.timeout(30)
def test_children_of_a_process_are_read_from_proc(parent: subprocess.Popen[bytes]) -> None:
    [child] = wait_until(lambda: children_of(parent.pid), message="the forked child")
    assert children_of(child) == []
    assert parent.pid in (children_of(os.getpid()) or [])


def test_a_process_that_is_gone_has_no_children() -> None:
    gone = subprocess.Popen([PYTHON, "-c", "pass"])
    gone.wait()
    assert children_of(gone.pid) == []
