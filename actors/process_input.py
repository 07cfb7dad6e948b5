"""send_input: writing to the standard input of a process's live run, without ever blocking.

What is sent is stored in the process's output on stream `stdin`, and it is handed to the
writer *before* it is written to the pipe: the process can only answer after reading it, so
its answer's lines always come after it in the log and the transcript reads in order. If the
pipe takes less than all of it (the process is not reading and the pipe is full) or nothing
(it closed its input), a note saying so follows in the log, and the result says how much went.
The write never waits: an actor must not block on a child.

Runs on the ProcessActor's thread, which alone writes to the run's input.
"""

from __future__ import annotations

import functools
import time

from pm_actors.actors.messages import STDIN, LogBatch
from pm_actors.actors.run import LiveRun, ProcessContext
from pm_actors.api import SendInput
from pm_actors.errors import InvalidArgument, NotRunning
from pm_actors.results import InputSent


def send_input(context: ProcessContext, process_id: int, run: LiveRun, request: SendInput) -> InputSent:
    child = run.child
    if not child.has_input:
        raise InvalidArgument(
            f"process {request.name!r} was started without stdin: true, so it has no input to write to; "
            "stop it and start it again with start_process and stdin: true"
        )
    if not child.input_open:
        raise InvalidArgument(
            f"the input of {request.name!r} is closed (eof was sent); restart it to send more"
        )
    if not request.text and not request.eof:
        raise InvalidArgument("invalid argument `text`: nothing to send (give text, or eof: true)")
    store = functools.partial(_store, context, process_id, run.run_id)
    data = request.text.encode()
    if data:
        store(request.text.splitlines() or [""])
    try:
        sent = child.write_input(data) if data else 0
    except BrokenPipeError:
        store(["(not delivered: the process has closed its input)"])
        raise NotRunning(f"{request.name!r} has closed its input; it reads nothing more") from None
    if sent < len(data):
        store(
            [f"(only {sent} of these {len(data)} bytes were delivered: the process is not reading its input)"]
        )
    if request.eof:
        child.close_input()
    return InputSent(name=request.name, bytes_sent=sent, bytes_given=len(data), eof=request.eof)


def _store(context: ProcessContext, process_id: int, run_id: int, lines: list[str]) -> None:
    now = time.time()
    entries = [(STDIN, now, line) for line in lines]
    committed = functools.partial(context.events.output_committed, process_id)
    context.writer.tell(LogBatch(process_id, run_id, entries, committed))
