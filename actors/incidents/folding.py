"""Folding the lines of one output stream into errors: a stack trace is one error, not thirty.

`StreamFolder` reads the lines of one stream of one run in order (stderr and stdout fold
apart, so lines interleaved from stdout never break a trace read from stderr) and gives back
each error once it is complete:

- a Python traceback through its last `XError: message` line, chained exceptions included
  ("During handling of the above exception ..."), and a SyntaxError's bare `File` block;
- a JavaScript / Node.js or Java / Kotlin error: a headline followed by `at ...` frames, with
  `Caused by:` / `... N more` / Node's error-object block;
- a Go `panic:` (or `fatal error:`) with its goroutine dump;
- a Rust `thread '...' panicked at` with its message, notes and backtrace;
- any other single line that reports an error (`rules.is_error_line`).

A trace is complete when a line arrives that cannot belong to it, or when the stream is
finished (`finish`). Each error keeps its first and last line id, a bounded copy of its text
and its frames. Pure logic: no database, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final, Literal

from pm_actors.actors.incidents.rules import is_error_line, mentions_error

TraceKind = Literal["python", "javascript", "java", "go", "rust", "line"]

MAX_TEXT_LINES: Final = 40
"""Lines of one error kept (the first and the last ones, the middle marked as omitted): a
recursion that prints 3,000 frames must not become a 3,000-line error."""
HEAD_LINES: Final = 10
MAX_LINE_CHARS: Final = 500
"""Characters kept of each line of an error: one minified bundle must not fill the answer."""
MAX_FRAMES: Final = 20
"""Frames kept per error, nearest the failure: enough to see where, few enough to read."""

PY_TRACEBACK: Final = "Traceback (most recent call last):"
PY_CHAIN: Final = re.compile(
    r"^(During handling of the above exception, another exception occurred:"
    r"|The above exception was the direct cause of the following exception:)$"
)
PY_FILE: Final = re.compile(r'^\s+File "(?P<file>[^"]*)", line \d+(, in (?P<function>.*))?$')
PY_EXCEPTION: Final = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(: .*)?$")
AT_FRAME: Final = re.compile(r"^\s+at \S")
AT_CONTINUATION: Final = re.compile(
    r"^(Caused by: |\s+\.\.\. \d+ (more|common frames omitted)|\s*Suppressed: |Node\.js v\d)"
)
AT_HEADLINE_TYPE: Final = re.compile(
    r'^(Exception in thread "[^"]*" |Uncaught |\S+ )?'
    r"(?P<type>([A-Za-z_$][\w.$]*)?(Error|Exception|Throwable))\b"
)
JAVA_HEADLINE: Final = re.compile(r'Exception in thread "|\b(java|javax|kotlin|scala)\.\w')
NODE_OBJECT: Final = re.compile(r"^(\{|\}|\s+[\w$]+: |\s+\[[\w$]+\]: )")
GO_START: Final = re.compile(r"^(panic: |fatal error: )")
GO_CONTINUATION: Final = re.compile(
    r"^(\s*$|goroutine \d+ \[|\t|\[signal |created by |exit status \d+|\S+\(.*\)$|panic: |\[recovered\])"
)
RUST_START: Final = re.compile(r"^thread '[^']*' panicked at")
RUST_CONTINUATION: Final = re.compile(r"^(note: |stack backtrace:|\s+\d+: |\s+at )")


@dataclass(frozen=True)
class Line:
    id: int
    ts: float
    text: str


@dataclass
class Folded:
    """One error as printed: its kind, the line that names it, its text and frames."""

    kind: TraceKind
    headline: str
    error_type: str | None
    first_id: int
    last_id: int
    first_ts: float
    text: list[str]
    frames: list[str]
    line_count: int


@dataclass
class _Trace:
    kind: TraceKind
    lines: list[Line] = field(default_factory=list)
    headline: Line | None = None
    held: list[Line] = field(default_factory=list)
    """Lines that belong to the trace only if what follows says so (a blank before a chain)."""

    def add(self, line: Line) -> None:
        self.lines.extend(self.held)
        self.held.clear()
        self.lines.append(line)


class StreamFolder:
    """Folds one stream of one run; feed it that stream's lines in order."""

    def __init__(self) -> None:
        self._trace: _Trace | None = None
        self._candidate: Line | None = None
        """A line that names an error: a headline if `at` frames follow, else an error line."""

    @property
    def pending(self) -> bool:
        """Whether lines are held that a later line (or `finish`) will decide about."""
        return self._trace is not None or self._candidate is not None

    def feed(self, line: Line) -> list[Folded]:
        """The errors that `line` completes (usually none)."""
        return list(self._feed(line))

    def finish(self) -> list[Folded]:
        """The stream ended (or went quiet): whatever is held is complete now."""
        done = list(self._close_trace())
        if self._candidate is not None:
            done.extend(_line_error(self._candidate))
            self._candidate = None
        return done

    def _feed(self, line: Line) -> Iterator[Folded]:
        if self._trace is not None:
            if self._continues(self._trace, line):
                return
            yield from self._close_trace()
        if self._candidate is not None:
            candidate, self._candidate = self._candidate, None
            if AT_FRAME.match(line.text):
                java = line.text.startswith("\t") or JAVA_HEADLINE.search(candidate.text) is not None
                self._trace = _Trace("java" if java else "javascript", [candidate, line], headline=candidate)
                return
            if line.text == PY_TRACEBACK:  # a logged exception (logging.exception): one error, not two
                self._trace = _Trace("python", [candidate, line])
                return
            yield from _line_error(candidate)
        yield from self._start(line)

    def _start(self, line: Line) -> Iterator[Folded]:
        text = line.text
        if text == PY_TRACEBACK or PY_FILE.match(text):
            self._trace = _Trace("python", [line])
        elif GO_START.match(text):
            self._trace = _Trace("go", [line], headline=line)
        elif RUST_START.match(text):
            self._trace = _Trace("rust", [line], headline=line)
        elif mentions_error(text):
            self._candidate = line
        return iter(())

    def _continues(self, trace: _Trace, line: Line) -> bool:
        """Whether `line` belongs to the open trace (then it is added)."""
        belongs = {
            "python": _python_continues,
            "go": lambda trace, text: GO_CONTINUATION.match(text) is not None,
            "rust": _rust_continues,
        }.get(trace.kind, _at_style_continues)(trace, line.text)
        if belongs == "hold":
            trace.held.append(line)
            return True
        if belongs:
            trace.add(line)
            if trace.kind == "python" and not line.text[:1].isspace() and PY_EXCEPTION.match(line.text):
                trace.headline = line
        return bool(belongs)

    def _close_trace(self) -> Iterator[Folded]:
        trace, self._trace = self._trace, None
        if trace is None:
            return
        folded = _folded(trace)
        if folded is not None:
            yield folded
        for held in trace.held:  # what was held for the trace starts afresh
            yield from self._feed(held)


def may_begin(text: str) -> bool:
    """Whether a line could begin an error (what `StreamFolder` starts from), cheaply: a
    stream holding nothing need not be fed the many lines that cannot."""
    return mentions_error(text) or PY_FILE.match(text) is not None


def _python_continues(trace: _Trace, text: str) -> bool | Literal["hold"]:
    if text == PY_TRACEBACK:  # a chained exception follows its "During handling ..." line; else a new one
        return trace.headline is None or PY_CHAIN.match(trace.lines[-1].text) is not None
    if text[:1].isspace() or PY_CHAIN.match(text):
        return True
    if text == "":
        return "hold" if trace.headline is not None else True
    # A line at the margin: the exception line if none was seen since the last header.
    return trace.headline is None or trace.headline.id < _last_header_id(trace)


def _last_header_id(trace: _Trace) -> int:
    return max((line.id for line in trace.lines if line.text == PY_TRACEBACK), default=trace.lines[0].id)


def _at_style_continues(trace: _Trace, text: str) -> bool:
    if AT_FRAME.match(text) or AT_CONTINUATION.match(text):
        if text.startswith("Caused by: ") and trace.kind == "javascript":
            trace.kind = "java"
        return True
    return trace.kind == "javascript" and NODE_OBJECT.match(text) is not None


def _rust_continues(trace: _Trace, text: str) -> bool:
    header = trace.lines[0].text
    if len(trace.lines) == 1 and header.endswith(":") and text:
        return True  # since Rust 1.73 the message comes on the line after `panicked at ...:`
    return RUST_CONTINUATION.match(text) is not None


def _folded(trace: _Trace) -> Folded | None:
    lines = trace.lines
    headline = trace.headline
    if trace.kind == "python" and headline is None:
        return None  # a header with nothing after it: no exception to report yet
    named = headline or lines[0]
    if trace.kind == "rust" and len(lines) > 1 and lines[0].text.endswith(":"):
        title = f"{lines[0].text} {lines[1].text}"
    else:
        title = named.text.strip()
    return Folded(
        kind=trace.kind,
        headline=title,
        error_type=_error_type(trace.kind, named.text),
        first_id=lines[0].id,
        last_id=lines[-1].id,
        first_ts=lines[0].ts,
        text=_bounded([line.text for line in lines]),
        frames=_frames(trace.kind, [line.text for line in lines]),
        line_count=len(lines),
    )


def _line_error(line: Line) -> Iterator[Folded]:
    if is_error_line(line.text):
        yield Folded(
            kind="line",
            headline=line.text.strip(),
            error_type=None,
            first_id=line.id,
            last_id=line.id,
            first_ts=line.ts,
            text=[line.text],
            frames=[],
            line_count=1,
        )


def _error_type(kind: TraceKind, headline: str) -> str | None:
    if kind == "python":
        match = PY_EXCEPTION.match(headline)
        return match["type"] if match else None
    if kind in ("go", "rust"):
        return "panic" if "panic" in headline else "fatal error"
    match = AT_HEADLINE_TYPE.match(headline.strip())
    return match["type"] if match else None


def _frames(kind: TraceKind, texts: list[str]) -> list[str]:
    """The frame lines nearest the failure: the last ones of a Python traceback (innermost
    last), the first ones of the others (innermost first)."""
    if kind == "python":
        return [text.strip() for text in texts if PY_FILE.match(text)][-MAX_FRAMES:]
    if kind == "go":
        frames = [text.strip() for text in texts if text.startswith("\t")]
    elif kind == "rust":
        frames = [text.strip() for text in texts if re.match(r"^\s+\d+: ", text)]
    else:
        frames = [text.strip() for text in texts if AT_FRAME.match(text)]
    return frames[:MAX_FRAMES]


def _bounded(texts: list[str]) -> list[str]:
    cut = [_cut(text) for text in texts]
    if len(cut) <= MAX_TEXT_LINES:
        return cut
    tail = MAX_TEXT_LINES - HEAD_LINES
    omitted = len(cut) - MAX_TEXT_LINES
    return [*cut[:HEAD_LINES], f"... {omitted} lines omitted ...", *cut[-tail:]]


def _cut(text: str) -> str:
    if len(text) <= MAX_LINE_CHARS:
        return text
    return f"{text[:MAX_LINE_CHARS]}... ({len(text) - MAX_LINE_CHARS:,} more characters)"
