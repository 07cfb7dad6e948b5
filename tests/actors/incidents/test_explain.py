from __future__ import annotations

import pytest

from pm_actors.actors.incidents.explain import Explanation, RunEnd, ShownError, explain_crash

TRACEBACK = ShownError("module_not_found", "ModuleNotFoundError: No module named 'flask'")


@pytest.mark.parametrize(
    ("end", "shown", "expected"),
    [
        (RunEnd(1, None), TRACEBACK, Explanation("module_not_found", TRACEBACK.headline, True)),
        (RunEnd(3, None), None, Explanation("exit_nonzero", "exited with code 3", False)),
        (
            RunEnd(None, None, reason="could not start /srv/app: Permission denied"),
            None,
            Explanation("spawn_failed", "could not start /srv/app: Permission denied", False),
        ),
        (RunEnd(None, "SIGSEGV"), TRACEBACK, Explanation("segfault", "killed by SIGSEGV", False)),
        (RunEnd(None, "SIGTERM"), None, Explanation("killed_by_signal", "killed by SIGTERM", False)),
        (
            RunEnd(None, "SIGKILL", memory_mb=950, memory_limit_mb=1024),
            None,
            Explanation("out_of_memory", "killed by SIGKILL at 950 MB of its 1024 MB limit", False),
        ),
        (
            RunEnd(None, "SIGKILL", memory_mb=100, memory_limit_mb=1024),
            None,
            Explanation("killed_by_signal", "killed by SIGKILL", False),
        ),
        (
            RunEnd(None, "SIGABRT"),
            ShownError("out_of_memory", "FATAL ERROR: JavaScript heap out of memory"),
            Explanation("out_of_memory", "FATAL ERROR: JavaScript heap out of memory", True),
        ),
    ],
)
def test_a_crash_is_explained_by_its_signal_its_output_or_its_exit_code(
    end: RunEnd, shown: ShownError | None, expected: Explanation
) -> None:
    assert explain_crash(end, shown) == expected
