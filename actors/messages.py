"""Messages the actors send each other, beside the public requests of `pm_actors.api`.

Public requests reach the actors unchanged, wrapped in a `Call` that carries the future the
answer goes to: an actor may answer at once, or much later (a stop answers when the child has
ended), without any thread blocking in between. The few messages that are asked (the sender
blocks on the answer) derive from `Asked`; ARCHITECTURE.md lists who may ask whom.

Every message between actors is declared here, including the ticks an actor's timers send it;
those to the HealthActor and the MetricsActor, in `observer_messages.py`.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from pm_actors.actors.keeper_link import AdoptedRun
from pm_actors.api import GetLogs, RequestUnion, SearchLogs, TailLogs, WaitFor
from pm_actors.definition import GroupDefinition, ProcessDefinition
from pm_actors.error_requests import GetErrors, GetLatestErrors
from pm_actors.group_requests import GroupMember
from pm_actors.log_results import Stream
from pm_actors.results import Breach, HealthReport
from pm_actors.states import ProcessState

if TYPE_CHECKING:
    import pykka

    ActorRef = pykka.ActorRef[Any]
else:
    ActorRef = Any  # messages are never encoded: the annotation is for readers and mypy

Reply = concurrent.futures.Future[Any]
"""Where an answer goes; `concurrent.futures` so that asyncio code can await it (wrap_future)."""

STDOUT = 0
STDERR = 1
STDIN = 2
STREAM_NAMES: tuple[Stream, ...] = ("stdout", "stderr", "stdin")
"""Each stream's name, at its number."""

LineChunk = tuple[int, float, list[str]]
"""(stream, seconds since the epoch, texts): output lines read together, in order. Lines travel
in chunks, not one tuple each: under a flood the IO thread and the writer then do their work
per read, not per line."""

SequenceName = Literal["processes", "runs", "logs"]
"""The id sequences of the database, named after the table whose ids they hand out."""


class Asked(msgspec.Struct, frozen=True):
    """Base of the messages sent with `ask`: the sender blocks until the answer comes."""


class Call(msgspec.Struct, frozen=True):
    """A public request and the future its result (or its PmError) is set on."""

    request: RequestUnion
    reply: Reply


# Messages to the LogWriterActor; it applies them in the order received.


class LogBatch(msgspec.Struct, frozen=True):
    """Lines of one run, in the order printed. `on_committed` runs (in the writer's thread)
    once they are committed: the IO thread uses it to release backpressure, and the last
    batch of a run uses it to tell the ProcessActor its output is complete."""

    process_id: int
    run_id: int
    chunks: list[LineChunk]
    on_committed: Callable[[], None] | None = None

    @property
    def line_count(self) -> int:
        return sum(len(texts) for _, _, texts in self.chunks)


class SaveDefinition(msgspec.Struct, frozen=True):
    process_id: int
    definition: ProcessDefinition
    updated_at: float


class SaveGroup(msgspec.Struct, frozen=True):
    """Store a group and its members (replacing what was stored under its name)."""

    group: GroupDefinition
    updated_at: float


class DeleteGroupData(msgspec.Struct, frozen=True):
    name: str


class DeleteProcessData(msgspec.Struct, frozen=True):
    """Remove a process's definition and runs at once, then its output lines (with their index
    entries) in chunks; `reply` gets the number of lines deleted once every chunk is committed,
    or the error that stopped it."""

    process_id: int
    reply: Reply


class DeleteLines(msgspec.Struct, frozen=True):
    """clear_logs: delete stored lines (every process's, or one's; all, or those stamped before
    `before_ts`) with their index entries, in chunks; `reply` gets how many went, once all did."""

    process_id: int | None
    before_ts: float | None
    reply: Reply


class ReserveIds(msgspec.Struct, frozen=True):
    """Store that every id of `sequence` below `up_to` is taken (see `actors/sequences.py`)."""

    sequence: SequenceName
    up_to: int


class RecordRunStart(msgspec.Struct, frozen=True):
    """A run began. `on_committed` runs (in the writer's thread) once it is committed: the
    client that asked for the run is answered then, never before it is on disk."""

    run_id: int
    process_id: int
    pid: int | None
    started_at: float
    requested_by: str
    on_committed: Callable[[], None] | None = None


class RecordRunEnd(msgspec.Struct, frozen=True):
    """A run ended. Its output is classified for errors in the same transaction; a crash is
    linked to the error that explains it, and `on_explained(phrase, error_id)` runs (in the
    writer's thread) once that is committed. A SIGKILL near the memory limit (`memory_mb` of
    `memory_limit_mb`, the last sample) is taken for the out-of-memory killer."""

    run_id: int
    ended_at: float
    exit_code: int | None
    exit_signal: str | None
    end_reason: str
    end_state: ProcessState
    """The state the run ended in, so a restarted daemon shows the same."""
    memory_mb: float | None = None
    memory_limit_mb: float | None = None
    on_explained: Callable[[str, int], None] | None = None


class RecordSupervision(msgspec.Struct, frozen=True):
    """What supervision made of a run's end, for a restarted daemon to carry on: a restart due
    (`backoff`), given up (`fatal`, `reason` says why), or no longer due (`stopped` by a client)."""

    run_id: int
    decision: Literal["backoff", "fatal", "stopped"]
    reason: str


class Flush(Asked, frozen=True):
    """Asked (not told) by a reader that must see every line received so far: commit them, then
    bring the full-text index up to them for at most `index_budget_s` (None: all the way), and
    error detection for at most `classify_budget_s`."""

    index_budget_s: float | None = None
    classify_budget_s: float | None = 0.0


class IdleWork(msgspec.Struct, frozen=True):
    """The LogWriterActor's note to itself: do the next chunk of deleting (a client waits, or a
    process is over its size limit), or, when nothing else waits, of indexing."""


class SettleErrors(msgspec.Struct, frozen=True):
    """Scheduler -> LogWriterActor: a stack trace held back (more of it may follow) has had
    time to be printed whole; if its run stayed quiet, it is complete."""


class Housekeeping(msgspec.Struct, frozen=True):
    """Told to the LogWriterActor on a schedule: trim lines past the age limit, give free pages
    back to the file system, and let SQLite refresh its query planner statistics."""


class RecordHealthCheck(msgspec.Struct, frozen=True):
    """One health check's outcome; the writer keeps the newest `HEALTH_HISTORY_PER_PROCESS`
    rows of each process."""

    process_id: int
    run_id: int
    checked_at: float
    """Seconds since the epoch, when the check ended."""
    healthy: bool
    detail: str
    duration_ms: float


class ReadLogs(msgspec.Struct, frozen=True):
    """A log read for the LogReaderActor: the supervisor has resolved the name to an id."""

    request: GetLogs | TailLogs | SearchLogs
    process_id: int | None
    reply: Reply


class ReadErrors(msgspec.Struct, frozen=True):
    """get_errors / get_latest_errors for the LogReaderActor, the name resolved to an id."""

    request: GetErrors | GetLatestErrors
    process_id: int | None
    reply: Reply


# Messages to a ProcessActor, beside the public requests it receives in a `Call`.


class Launch(msgspec.Struct, frozen=True):
    """Start a run with this definition (a new one replaces the stored definition; None: the
    stored one); with `start` False, only store it. Refused while the process is active."""

    definition: ProcessDefinition | None
    reply: Reply
    start: bool = True
    requested_by: str = "start_process"


class Stop(msgspec.Struct, frozen=True):
    """Stop the process; `reason` is recorded as why the run ended."""

    reply: Reply
    reason: str
    timeout_s: float | None = None


class Adopt(msgspec.Struct, frozen=True):
    """Carry on this run of a dead daemon, which the keeper handed over (see `adoptions`)."""

    run: AdoptedRun


class Retire(Asked, frozen=True):
    """Asked by the supervisor before deleting: True (and the actor stops) unless active."""


class ChildExited(msgspec.Struct, frozen=True):
    run_id: int
    status: int
    """Popen's returncode: the exit code, or minus the signal number."""


class OutputComplete(msgspec.Struct, frozen=True):
    """Both pipes of the run reached EOF and every line of it is committed."""

    run_id: int


class StopTimeout(msgspec.Struct, frozen=True):
    """The stop timeout after SIGTERM ran out: time for SIGKILL."""

    run_id: int


class DrainTimeout(msgspec.Struct, frozen=True):
    """The child exited a while ago but its pipes are still open (held by what it left behind)."""

    run_id: int


class CrashExplained(msgspec.Struct, frozen=True):
    """LogWriterActor (through `RecordRunEnd.on_explained`) -> ProcessActor: what explains
    the crash of this run, in one phrase, and the error it is linked to."""

    run_id: int
    phrase: str
    error_id: int


class ReplyDeadline(msgspec.Struct, frozen=True):
    """Answer `reply` with the current record if the run has not ended by now."""

    reply: Reply


class RestartDue(msgspec.Struct, frozen=True):
    """The backoff delay is over (or a fatal retry is due): start the next run."""

    generation: int
    """Which wait this is; a stop or a manual start meanwhile makes it stale."""


class HealthObserved(msgspec.Struct, frozen=True):
    """HealthActor -> ProcessActor after every check of a run."""

    run_id: int
    report: HealthReport


class LimitBreached(msgspec.Struct, frozen=True):
    """MetricsActor -> ProcessActor: a limit was exceeded for its whole window."""

    run_id: int
    breach: Breach


# Messages to the WaitActor.


class StartWait(msgspec.Struct, frozen=True):
    """wait_for, with the process resolved to its id; the reply gets a WaitResult."""

    request: WaitFor
    process_id: int
    reply: Reply


class WaitTick(msgspec.Struct, frozen=True):
    """Scheduler -> WaitActor: look at every pending wait again."""


# Messages to the SupervisorActor, beside the public requests.


class StopAll(Asked, frozen=True):
    """Asked by the actor system at shutdown: stop every process; returns their reply futures."""


class DefineMembers(msgspec.Struct, frozen=True):
    """GroupActor -> SupervisorActor: check that each member names a process or declares a valid
    definition, then store the declared ones (not started); the reply gets None once stored."""

    members: list[GroupMember]
    reply: Reply


# Messages to the GroupActor, beside the group requests the supervisor forwards in a `Call`.


class Settled(msgspec.Struct, frozen=True):
    """A future the GroupActor waits on (a start, a wait, a stop) is settled: run `step` with it
    on the GroupActor's thread. If the step fails, `reply` (the group request it serves) gets
    the error."""

    step: Callable[[Reply], None]
    future: Reply
    reply: Reply


class ProcessRemoved(msgspec.Struct, frozen=True):
    """SupervisorActor -> GroupActor: the process was deleted; it leaves every group."""

    name: str
