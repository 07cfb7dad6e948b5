from __future__ import annotations

import itertools

from pm_actors.actors.incidents.tracker import IncidentTracker, Row
from tests.actors.incidents import samples

STDOUT, STDERR = 0, 1


def rows_of(process_id: int, run_id: int, stream: int, text: str, ids: itertools.count[int]) -> list[Row]:
    return [(next(ids), process_id, run_id, stream, 100.0, line) for line in text.split("\n")]


def test_an_error_carries_its_category_fingerprint_context_and_line_span() -> None:
    tracker = IncidentTracker()
    tracker.know_process(1, "/srv/app")
    ids = itertools.count(1)
    rows = rows_of(1, 7, STDOUT, "booting\nloading config", ids) + rows_of(
        1, 7, STDERR, samples.PYTHON_TRACEBACK, ids
    )
    assert tracker.feed(rows) == []
    [detected] = tracker.end_run(7)
    assert detected.category == "module_not_found" and detected.error_type == "ModuleNotFoundError"
    assert (detected.first_line_id, detected.last_line_id) == (3, 6)
    assert detected.context == ["booting", "loading config"]
    assert (detected.process_id, detected.run_id, detected.stream) == (1, 7, STDERR)
    assert len(detected.fingerprint) == 16


def test_the_same_crash_in_two_runs_has_one_fingerprint_and_two_processes_share_it() -> None:
    tracker = IncidentTracker()
    tracker.know_process(1, "/srv/a")
    tracker.know_process(2, "/srv/b")
    ids = itertools.count(1)
    found = []
    for process_id, run_id in ((1, 1), (1, 2), (2, 3)):
        tracker.feed(rows_of(process_id, run_id, STDERR, samples.PYTHON_TRACEBACK, ids))
        found.extend(tracker.end_run(run_id))
    assert len({detected.fingerprint for detected in found}) == 1
    assert [detected.run_id for detected in found] == [1, 2, 3]


def test_a_trace_that_goes_quiet_is_settled_without_waiting_for_the_run_to_end() -> None:
    tracker = IncidentTracker()
    tracker.feed(rows_of(1, 1, STDERR, samples.PYTHON_TRACEBACK, itertools.count(1)))
    assert tracker.pending()
    assert tracker.settle(quiet_since=99.0) == []
    [detected] = tracker.settle(quiet_since=100.0)
    assert detected.headline == "ModuleNotFoundError: No module named 'flask'"
    assert not tracker.pending()
    assert tracker.end_run(1) == []


def test_runs_fold_apart_even_when_their_lines_interleave() -> None:
    tracker = IncidentTracker()
    ids = itertools.count(1)
    first = rows_of(1, 1, STDERR, samples.GO_PANIC, ids)
    second = rows_of(2, 2, STDERR, samples.RUST_PANIC, ids)
    interleaved = [row for pair in itertools.zip_longest(first, second) for row in pair if row is not None]
    tracker.feed(interleaved)
    found = tracker.end_run(1) + tracker.end_run(2)
    assert [(detected.run_id, detected.error_type) for detected in found] == [(1, "panic"), (2, "panic")]
    assert found[0].headline.startswith("panic: runtime error") and "unwrap" in found[1].headline
