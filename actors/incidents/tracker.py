"""From stored lines to incidents: what the writer runs, behind its classification mark.

`IncidentTracker` is fed the stored rows in id order. It keeps one `StreamFolder` per stream
of each live run (so stdout never breaks a stderr trace) and the last few lines of each run
(the context shown before an error), and turns each folded error into a `Detected`: its
category, fingerprint and evidence, ready to be counted into the incidents table. It holds
no database and no clock: the writer gives it rows, says when a run ended, and asks for
traces that went quiet.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from pm_actors.actors.incidents.fingerprint import fingerprint
from pm_actors.actors.incidents.folding import Folded, Line, StreamFolder, may_begin
from pm_actors.actors.incidents.rules import categorize
from pm_actors.error_results import ErrorCategory as Category

CONTEXT_LINES: Final = 5
"""Lines kept from before an error, across both streams: what the program said just before."""

Row = tuple[int, int, int, int, float, str]
"""(id, process_id, run_id, stream, ts, line): a stored output line."""


@dataclass(frozen=True)
class Detected:
    """One error found in the output: what it is, where it was printed, and its evidence."""

    process_id: int
    run_id: int
    stream: int
    category: Category
    fingerprint: str
    error_type: str | None
    headline: str
    text: list[str]
    frames: list[str]
    context: list[str]
    first_line_id: int | None
    last_line_id: int | None
    """None for a crash the output did not show: its evidence is the last stderr lines."""
    ts: float


@dataclass
class _RunState:
    process_id: int
    folders: dict[int, StreamFolder] = field(default_factory=dict)
    recent: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=CONTEXT_LINES))
    context_before: dict[int, tuple[int, list[str]]] = field(default_factory=dict)
    """By stream: the first line id of what its folder holds, and the lines printed before it."""
    last_ts: float = 0.0


class IncidentTracker:
    def __init__(self) -> None:
        self._runs: dict[int, _RunState] = {}
        self._working_directories: dict[int, str] = {}

    def know_process(self, process_id: int, working_directory: str) -> None:
        """Paths under a process's working directory are blanked out of its fingerprints."""
        self._working_directories[process_id] = working_directory

    def feed(self, rows: Iterable[Row]) -> list[Detected]:
        """The errors these rows (in id order) complete."""
        found: list[Detected] = []
        for line_id, process_id, run_id, stream, ts, text in rows:
            run = self._runs.get(run_id) or self._runs.setdefault(run_id, _RunState(process_id))
            folder = run.folders.get(stream) or run.folders.setdefault(stream, StreamFolder())
            if folder.pending or may_begin(text):  # else an ordinary line: only the context keeps it
                found.extend(self._fold(run, run_id, stream, folder, Line(line_id, ts, text)))
            run.recent.append(text)
            run.last_ts = ts
        return found

    def _fold(
        self, run: _RunState, run_id: int, stream: int, folder: StreamFolder, line: Line
    ) -> list[Detected]:
        was_pending = folder.pending
        found = self._detected(run, run_id, stream, folder.feed(line))
        if folder.pending and not was_pending:  # this line may begin an error: keep what came before
            run.context_before[stream] = (line.id, list(run.recent))
        return found

    def end_run(self, run_id: int) -> list[Detected]:
        """The run's output is complete: every trace it holds is finished."""
        run = self._runs.pop(run_id, None)
        if run is None:
            return []
        return self._finish(run, run_id)

    def settle(self, quiet_since: float) -> list[Detected]:
        """Traces of runs that printed nothing after `quiet_since` are finished: a server
        that prints a traceback and carries on must not hold it back until its next line."""
        found: list[Detected] = []
        for run_id, run in self._runs.items():
            if run.last_ts <= quiet_since:
                found.extend(self._finish(run, run_id))
        return found

    def pending(self) -> bool:
        return any(folder.pending for run in self._runs.values() for folder in run.folders.values())

    def _finish(self, run: _RunState, run_id: int) -> list[Detected]:
        return [
            detected
            for stream, folder in sorted(run.folders.items())
            for detected in self._detected(run, run_id, stream, folder.finish())
        ]

    def _detected(self, run: _RunState, run_id: int, stream: int, errors: list[Folded]) -> list[Detected]:
        found = []
        for error in errors:
            first_id, context = run.context_before.get(stream, (0, []))
            if first_id != error.first_id:
                context = []
            category = categorize("\n".join(error.text), is_trace=error.kind != "line")
            if category is None:
                category = "error_line"
            cwd = self._working_directories.get(run.process_id, "/")
            top_frame = _innermost(error)
            found.append(
                Detected(
                    process_id=run.process_id,
                    run_id=run_id,
                    stream=stream,
                    category=category,
                    fingerprint=fingerprint(category, error.error_type, error.headline, top_frame, cwd),
                    error_type=error.error_type,
                    headline=error.headline,
                    text=error.text,
                    frames=error.frames,
                    context=context,
                    first_line_id=error.first_id,
                    last_line_id=error.last_id,
                    ts=error.first_ts,
                )
            )
        return found


def _innermost(error: Folded) -> str | None:
    """The frame nearest the failure: a Python traceback prints it last, the others first."""
    if not error.frames:
        return None
    return error.frames[-1] if error.kind == "python" else error.frames[0]
