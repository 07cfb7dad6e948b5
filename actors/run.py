"""What a ProcessActor knows of its runs: the live one, and the outcome of the latest.

Plain data and one pure function (`ending_of`), kept apart from the actor so that the actor
module reads as its handlers.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import pykka

from pm_actors.actors.adoptions import Adoptions
from pm_actors.actors.child import Child, signal_name
from pm_actors.actors.delivery import tell_if_alive
from pm_actors.actors.descendants import RunMarkers
from pm_actors.actors.events import EventHub
from pm_actors.actors.executables import ExecutablePolicy
from pm_actors.actors.keeper_link import KeeperLink
from pm_actors.actors.messages import (
    ChildExited,
    CrashExplained,
    OutputComplete,
    RecordRunEnd,
    RecordSupervision,
    Reply,
)
from pm_actors.actors.pipe_reader import PipeReader, RunWatch
from pm_actors.actors.records import RecordBoard
from pm_actors.actors.scheduler import Scheduler
from pm_actors.actors.sequences import IdSequence
from pm_actors.actors.store import StoredRun
from pm_actors.config import Config
from pm_actors.results import RunSummary, iso_utc
from pm_actors.states import ProcessState

STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGKILL})
"""Signals sent to end a process: however it then ends (a handler may exit with any code), it
ended because it was asked to. Other signals (SIGHUP, SIGUSR1...) ask something else, and only
a death by that very signal counts as asked for."""

AfterStop = Literal["end", "restart", "backoff"]
"""What follows a stop: nothing; a new run at once (restart_process); or a new run after the
backoff delay (the process was unhealthy, or over an enforced limit)."""


@dataclass
class ProcessContext:
    """What every ProcessActor shares: the daemon's parts it talks to."""

    config: Config
    executables: ExecutablePolicy
    writer: pykka.ActorRef[Any]
    health: pykka.ActorRef[Any]
    metrics: pykka.ActorRef[Any]
    pipe_reader: PipeReader
    scheduler: Scheduler
    run_ids: IdSequence
    process_ids: IdSequence
    board: RecordBoard
    markers: RunMarkers
    events: EventHub
    keeper: KeeperLink
    """The keeper, told of every run so that a crash of the daemon stops none (inert without one)."""
    adoptions: Adoptions
    """The runs a dead daemon left, which ProcessActors carry on."""


DAEMON_STOP_REASON = "stopped because the daemon is shutting down"
"""The reason of a stop for the daemon's shutdown; what the run's end adds (a SIGKILL after the
stop timeout, "while waiting to restart") follows it: `by_daemon_shutdown` reads it."""
RESTORED_BY = "restore at daemon start"
"""Who asked for a run that the next daemon started: a restart, counted with the earlier ones."""


@dataclass
class RunOutcome:
    """What is known of the latest run, for the record; survives the run's end."""

    run_id: int | None = None
    pid: int | None = None
    started_at: float | None = None
    ended_at: float | None = None
    exit_code: int | None = None
    exit_signal: str | None = None
    end_reason: str | None = None
    requested_by: str | None = None
    end_state: ProcessState | None = None
    crash: str | None = None
    """What explains a crash, once the writer has linked it to an error."""
    error_id: int | None = None

    def record_end(self, status: int, reason: str, state: ProcessState) -> None:
        """The run ended with `status` (Popen's returncode: minus the signal number if killed)
        in `state`."""
        self.exit_code = status if status >= 0 else None
        self.exit_signal = signal_name(-status) if status < 0 else None
        self.end_reason = reason
        self.end_state = state
        self.ended_at = self.ended_at or time.time()

    def duration_s(self) -> float:
        if self.started_at is None or self.ended_at is None:
            return 0.0
        return self.ended_at - self.started_at


def outcome_of(run: StoredRun) -> RunOutcome:
    """What is known of a run read back from the database."""
    return RunOutcome(
        run_id=run.run_id,
        pid=run.pid,
        started_at=run.started_at,
        ended_at=run.ended_at,
        exit_code=run.exit_code,
        exit_signal=run.exit_signal,
        end_reason=run.end_reason,
        requested_by=run.requested_by,
        end_state=ProcessState(run.end_state or ProcessState.STOPPED),
        crash=run.crash_phrase,
        error_id=run.incident_id,
    )


def run_summary(outcome: RunOutcome) -> RunSummary | None:
    if outcome.run_id is None:
        return None
    return RunSummary(
        run_id=outcome.run_id,
        pid=outcome.pid,
        started_at=iso_utc(outcome.started_at),
        ended_at=iso_utc(outcome.ended_at),
        exit_code=outcome.exit_code,
        exit_signal=outcome.exit_signal,
        end_reason=outcome.end_reason,
        requested_by=outcome.requested_by,
        end_state=outcome.end_state,
        crash=outcome.crash,
        error_id=outcome.error_id,
    )


def end_of_run(
    outcome: RunOutcome,
    run_id: int,
    process: pykka.ActorRef[Any],
    memory_mb: float | None = None,
    memory_limit_mb: float | None = None,
) -> RecordRunEnd:
    """The writer's record of how the run ended; the writer tells `process` what explains a crash."""

    def explained(phrase: str, error_id: int) -> None:  # on the writer's thread, once committed
        tell_if_alive(process, CrashExplained(run_id, phrase, error_id))

    return RecordRunEnd(
        run_id,
        outcome.ended_at or time.time(),
        outcome.exit_code,
        outcome.exit_signal,
        outcome.end_reason or "",
        outcome.end_state or ProcessState.STOPPED,
        memory_mb,
        memory_limit_mb,
        explained,
    )


def by_daemon_shutdown(reason: str | None) -> bool:
    """Whether a run ended, or a wait for its restart was stopped, because the daemon shut down."""
    return reason is not None and reason.startswith(DAEMON_STOP_REASON)


def supervision_of(
    run_id: int | None, previous: ProcessState, target: ProcessState, reason: str
) -> RecordSupervision | None:
    """The writer's record of a change that a restarted daemon must carry on from: waiting to
    restart the run, given up on it, or stopped while waiting (by a client: the daemon's own
    shutdown leaves the restart due, for the next daemon)."""
    if run_id is None:
        return None
    if target is ProcessState.BACKOFF:
        return RecordSupervision(run_id, "backoff", reason)
    if target is ProcessState.FATAL:
        return RecordSupervision(run_id, "fatal", reason)
    stopped_waiting = previous is ProcessState.BACKOFF and target is ProcessState.STOPPED
    if stopped_waiting and not by_daemon_shutdown(reason):
        return RecordSupervision(run_id, "stopped", reason)
    return None


@dataclass
class LiveRun:
    """The run whose child may still be alive."""

    watch: RunWatch
    exit_status: int | None = None
    output_complete: bool = False
    stop_reason: str | None = None
    killed_at_timeout: bool = False
    requested_signal: int | None = None
    after_stop: AfterStop = "end"
    end_waiters: list[Reply] = field(default_factory=list)
    restart_waiters: list[tuple[Reply, list[str]]] = field(default_factory=list)
    """restart_process callers, each with what its restart changed in the definition."""

    @property
    def run_id(self) -> int:
        return self.watch.run_id

    @property
    def child(self) -> Child:
        return self.watch.child

    @classmethod
    def watching(cls, process_id: int, run_id: int, child: Child, process: pykka.ActorRef[Any]) -> LiveRun:
        """A new run whose exit and end of output the IO thread tells `process`."""
        return cls(
            RunWatch(
                process_id=process_id,
                run_id=run_id,
                child=child,
                on_exit=lambda status: process.tell(ChildExited(run_id, status)),
                on_output_complete=lambda: process.tell(OutputComplete(run_id)),
            )
        )

    def ask_to_stop(self, reason: str, after_stop: AfterStop) -> bool:
        """Note a stop request (the latest decides what follows: a client's stop cancels a
        restart); True when the group must be signalled, False if it is stopping or ended."""
        self.after_stop = after_stop
        if self.stop_reason is not None or self.exit_status is not None:
            return False
        self.stop_reason = reason
        return True

    def note_exit(self, status: int) -> bool:
        """The child was reaped; True when the run is over (its output is complete too)."""
        self.exit_status = status
        return self.output_complete

    def note_output_complete(self) -> bool:
        """Every line is committed; True when the run is over (its child was reaped too)."""
        self.output_complete = True
        return self.exit_status is not None


def ending_of(run: LiveRun, status: int) -> tuple[ProcessState, str]:
    """The state a run ends in, and why: asked to stop, ended by a signal we sent, or on its own."""
    if run.stop_reason is not None:
        suffix = " (SIGKILL after the stop timeout)" if run.killed_at_timeout else ""
        return ProcessState.STOPPED, run.stop_reason + suffix
    if run.requested_signal in STOP_SIGNALS or (
        run.requested_signal is not None and status == -run.requested_signal
    ):
        how = f"killed by {signal_name(-status)}" if status < 0 else f"exit code {status}"
        return (
            ProcessState.STOPPED,
            f"ended after {signal_name(run.requested_signal)} sent on request ({how})",
        )
    if status == 0:
        return ProcessState.EXITED, "exited on its own with code 0"
    if status < 0:
        return ProcessState.CRASHED, f"killed by {signal_name(-status)}"
    return ProcessState.CRASHED, f"exited on its own with code {status}"
