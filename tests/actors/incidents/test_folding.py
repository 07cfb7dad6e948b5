from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pm_actors.actors.incidents.folding import MAX_FRAMES, MAX_TEXT_LINES, Folded, Line, StreamFolder
from tests.actors.incidents import samples

EXPECTED = {
    "python": ("python", "ModuleNotFoundError", "ModuleNotFoundError: No module named 'flask'", 1),
    "python-chained": ("python", "RuntimeError", "RuntimeError: database unavailable", 3),
    "python-syntax": ("python", "SyntaxError", "SyntaxError: invalid syntax", 1),
    "python-carets": ("python", "ZeroDivisionError", "ZeroDivisionError: division by zero", 1),
    "javascript": (
        "javascript",
        "TypeError",
        "TypeError: Cannot read properties of undefined (reading 'port')",
        3,
    ),
    "javascript-eaddrinuse": (
        "javascript",
        "Error",
        "Error: listen EADDRINUSE: address already in use :::3000",
        2,
    ),
    "java": (
        "java",
        "java.lang.IllegalStateException",
        'Exception in thread "main" java.lang.IllegalStateException: config missing',
        3,
    ),
    "go": ("go", "panic", "panic: runtime error: index out of range [5] with length 3", 2),
    "rust": (
        "rust",
        "panic",
        "thread 'main' panicked at src/main.rs:4:5: called `Option::unwrap()` on a `None` value",
        0,
    ),
}


def fold(text: str, first_id: int = 1) -> list[Folded]:
    """Every error in `text`, fed line by line and then finished, as a stream of one run."""
    folder = StreamFolder()
    errors: list[Folded] = []
    for line_id, line in enumerate(text.split("\n"), start=first_id):
        errors.extend(folder.feed(Line(line_id, float(line_id), line)))
    errors.extend(folder.finish())
    return errors


def traces(errors: list[Folded]) -> list[Folded]:
    return [error for error in errors if error.kind != "line"]


@pytest.mark.parametrize("name", sorted(samples.TRACES))
def test_each_languages_trace_folds_into_one_error_with_its_headline_and_frames(name: str) -> None:
    kind, error_type, headline, frames = EXPECTED[name]
    [error] = traces(fold(samples.TRACES[name]))
    assert (error.kind, error.error_type, error.headline) == (kind, error_type, headline)
    assert len(error.frames) == frames
    assert error.text[-1] in samples.TRACES[name]


def test_a_trace_keeps_the_ids_of_the_lines_it_spans() -> None:
    before = "starting\nlistening\n"
    [error] = traces(fold(before + samples.PYTHON_TRACEBACK + "\nafter", first_id=10))
    assert (error.first_id, error.last_id, error.line_count) == (12, 15, 4)


def test_a_line_after_a_trace_is_not_part_of_it() -> None:
    errors = fold(samples.PYTHON_TRACEBACK + "\nERROR worker restarting")
    assert [error.kind for error in errors] == ["python", "line"]
    assert errors[1].headline == "ERROR worker restarting"


def test_two_traces_in_a_row_are_two_errors() -> None:
    errors = fold(samples.GO_PANIC.replace("\nexit status 2", "") + "\n" + samples.PYTHON_TRACEBACK)
    assert [error.kind for error in errors] == ["go", "python"]


def test_a_python_traceback_right_after_another_without_a_chain_line_is_a_new_error() -> None:
    errors = fold(samples.PYTHON_TRACEBACK + "\n" + samples.PYTHON_311_CARETS)
    assert [error.headline for error in errors] == [
        "ModuleNotFoundError: No module named 'flask'",
        "ZeroDivisionError: division by zero",
    ]


def test_a_logged_exception_is_one_error_from_its_log_line_to_its_exception() -> None:
    [error] = fold("ERROR:root:request failed\n" + samples.PYTHON_311_CARETS + "\nstill serving")
    assert (error.kind, error.headline) == ("python", "ZeroDivisionError: division by zero")
    assert (error.first_id, error.text[0]) == (1, "ERROR:root:request failed")


def test_a_python_trace_not_followed_by_a_chain_ends_at_its_exception_line() -> None:
    errors = fold(samples.PYTHON_TRACEBACK + "\n\nserver restarting in 1 s")
    [error] = traces(errors)
    assert error.last_id == 4


def test_lines_of_another_stream_never_break_a_trace() -> None:
    """Each stream has its own folder: stdout lines interleaved while stderr prints a trace
    reach the stdout folder, and the stderr trace folds whole."""
    stderr, stdout = StreamFolder(), StreamFolder()
    trace_lines = samples.PYTHON_CHAINED.split("\n")
    errors: list[Folded] = []
    ids = itertools.count(1)
    for trace_line in trace_lines:
        errors.extend(stdout.feed(Line(next(ids), 0.0, "GET /health 200")))
        errors.extend(stderr.feed(Line(next(ids), 0.0, trace_line)))
    errors.extend(stderr.finish() + stdout.finish())
    [error] = errors
    assert error.headline == "RuntimeError: database unavailable" and error.line_count == len(trace_lines)


def test_ordinary_lines_and_words_that_only_mention_errors_are_no_error() -> None:
    text = "\n".join(
        [
            "compiled 12 files with 0 errors",
            "GET /errors 200 3ms",
            "retrying: the last attempt had an error",
            "tests passed",
        ]
    )
    assert fold(text) == []


@pytest.mark.parametrize(
    "line",
    [
        "ERROR database connection lost",
        "2024-05-01 10:00:00,123 ERROR app: request failed",
        "[error] worker 3 died",
        "Error: Cannot find module 'express'",
        "fatal: not a git repository",
        'level=error msg="upstream closed"',
        '{"level": "error", "msg": "boom"}',
        "listen tcp :8080: bind: address already in use",
        "psql: error: connection to server failed: Connection refused",
    ],
)
def test_a_single_line_that_reports_an_error_is_one(line: str) -> None:
    [error] = fold(line)
    assert error.kind == "line" and error.headline == line


def test_a_huge_trace_is_kept_bounded_with_the_omission_marked() -> None:
    frames = "\n".join(f'  File "/srv/r.py", line {n}, in f\n    f()' for n in range(3000))
    text = f"Traceback (most recent call last):\n{frames}\nRecursionError: maximum recursion depth exceeded"
    [error] = traces(fold(text))
    assert len(error.text) == MAX_TEXT_LINES + 1
    assert any("lines omitted" in line for line in error.text)
    assert error.text[-1] == "RecursionError: maximum recursion depth exceeded"
    assert len(error.frames) == MAX_FRAMES and error.line_count == 6002


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from([*samples.TRACES, "plain"]), max_size=8),
    st.lists(st.text(alphabet="abc xyz:/.0123", max_size=30), max_size=8),
)
def test_any_mix_of_traces_and_plain_lines_folds_each_trace_once_in_order(
    names: list[str], fillers: list[str]
) -> None:
    """Traces separated by ordinary lines come out as one error each, in the order printed,
    and no line belongs to two errors."""
    chunks: list[str] = []
    for name, filler in itertools.zip_longest(names, fillers, fillvalue=""):
        if name and name != "plain":
            chunks.append(samples.TRACES[name])
        chunks.append("ok " + filler.replace("error", ""))
    errors = traces(fold("\n".join(chunks)))
    assert [EXPECTED[name][2] for name in names if name != "plain"] == [error.headline for error in errors]
    spans = [(error.first_id, error.last_id) for error in errors]
    assert all(first <= last < next_first for (first, last), (next_first, _) in itertools.pairwise(spans))
