"""ProcessActor: one per managed process, the only owner of its child.

It spawns runs, signals the process group, and decides each state from the table in
`pm_actors.states`, logging every transition with its reason. A run is reported ended only
when the child is reaped AND both its pipes reached EOF AND their lines are committed, so a
client that sees `exited` finds the whole output stored. Nothing here sleeps: timeouts are
scheduler callbacks that `tell` this actor.

Every hook and handler below runs on this actor's own thread.
"""

from __future__ import annotations

import logging
import signal
import time
from dataclasses import dataclass, field
from typing import Any

import pykka

from pm_actors.actors.child import SpawnedChild, signal_name, spawn
from pm_actors.actors.commands import child_environment
from pm_actors.actors.messages import (
    Call,
    ChildExited,
    DeleteProcessData,
    DrainTimeout,
    Launch,
    OutputComplete,
    ProcessDefinition,
    RecordRunEnd,
    RecordRunStart,
    Reply,
    ReplyDeadline,
    Retire,
    SaveDefinition,
    Stop,
    StopTimeout,
)
from pm_actors.actors.pipe_reader import PipeReader, RunWatch
from pm_actors.actors.records import IdAllocator, RecordBoard
from pm_actors.actors.scheduler import Scheduler
from pm_actors.api import KillProcess, ProcessRecord, RestartProcess, StopProcess, iso_utc
from pm_actors.errors import AlreadyRunning, InternalError, NotRunning, PmError, SpawnFailed
from pm_actors.states import ACTIVE_STATES, Health, ProcessState, check_transition

logger = logging.getLogger(__name__)

DRAIN_GRACE_S = 2.0
"""After the child exits, how long its pipes may stay open (held by something it left
behind) before we kill its group and close them: long enough for a slow flush, short enough
that a client is not kept waiting for the end."""
KILL_REPLY_WAIT_S = 1.0
"""kill_process answers when the process has ended, or after this if the signal did not end it."""


@dataclass
class ProcessContext:
    """What every ProcessActor shares: the daemon's parts it talks to."""

    writer: pykka.ActorRef[Any]
    pipe_reader: PipeReader
    scheduler: Scheduler
    run_ids: IdAllocator
    board: RecordBoard


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


@dataclass
class LiveRun:
    """The run whose child may still be alive."""

    watch: RunWatch
    exit_status: int | None = None
    output_complete: bool = False
    stop_reason: str | None = None
    killed_at_timeout: bool = False
    requested_signal: int | None = None
    end_waiters: list[Reply] = field(default_factory=list)
    restart_waiters: list[Reply] = field(default_factory=list)

    @property
    def run_id(self) -> int:
        return self.watch.run_id

    @property
    def child(self) -> SpawnedChild:
        return self.watch.child


class ProcessActor(pykka.ThreadingActor):
    def __init__(
        self,
        process_id: int,
        definition: ProcessDefinition,
        context: ProcessContext,
        state: ProcessState = ProcessState.STOPPED,
        outcome: RunOutcome | None = None,
    ) -> None:
        super().__init__()
        self._process_id = process_id
        self._definition = definition
        self._context = context
        self._state = state
        self._outcome = outcome or RunOutcome()
        self._run: LiveRun | None = None
        self._restarts = 0
        self._retired = False

    def on_start(self) -> None:
        self._publish()

    def on_receive(self, message: Any) -> Any:
        try:
            return self._dispatch(message)
        except Exception as error:
            # The top-level handler: a bug must not kill the actor and strand waiting callers.
            logger.exception("process %r: failed to handle %s", self._definition.name, type(message).__name__)
            reply = getattr(message, "reply", None)
            if reply is not None and not reply.done():
                reply.set_exception(
                    InternalError(f"internal error handling {type(message).__name__}: {error}")
                )
            return None

    def _dispatch(self, message: Any) -> Any:
        match message:
            case Launch(definition, reply):
                self._launch(definition, reply)
            case Call(StopProcess(timeout_s=timeout_s), reply):
                self._request_stop(reply, "stopped on request", timeout_s)
            case Stop(reply, reason, timeout_s):
                self._request_stop(reply, reason, timeout_s)
            case Call(RestartProcess(), reply):
                self._restart(reply)
            case Call(KillProcess(signal=name), reply):
                self._kill(reply, signal.Signals[name])
            case Retire():
                return self._retire()
            case ChildExited(run_id, status):
                self._on_child_exited(run_id, status)
            case OutputComplete(run_id):
                self._on_output_complete(run_id)
            case StopTimeout(run_id):
                self._on_stop_timeout(run_id)
            case DrainTimeout(run_id):
                self._on_drain_timeout(run_id)
            case ReplyDeadline(reply):
                self._resolve(reply, self._record())
            case _:
                logger.error("process %r: unexpected message %r", self._definition.name, message)
        return None

    # Requests ------------------------------------------------------------------------------

    def _launch(self, definition: ProcessDefinition, reply: Reply) -> None:
        if self._state in ACTIVE_STATES:
            reply.set_exception(
                AlreadyRunning(
                    f"process {definition.name!r} is already {self._state.value}; "
                    "use restart_process, or stop_process first"
                )
            )
            return
        if definition != self._definition:
            self._definition = definition
            self._restarts = 0
        self._context.writer.tell(SaveDefinition(self._process_id, definition, time.time()))
        self._start_and_reply(reply, requested_by="start_process")

    def _request_stop(self, reply: Reply, reason: str, timeout_s: float | None) -> None:
        run = self._run
        if run is None:
            reply.set_result(self._record())
            return
        run.end_waiters.append(reply)
        self._begin_stop(run, reason, timeout_s)

    def _restart(self, reply: Reply) -> None:
        run = self._run
        if run is None:
            self._restarts += 1
            self._start_and_reply(reply, requested_by="restart_process")
            return
        run.restart_waiters.append(reply)
        self._begin_stop(run, "stopped to restart", None)

    def _kill(self, reply: Reply, signal_number: signal.Signals) -> None:
        run = self._run
        if run is None or run.exit_status is not None:
            reply.set_exception(
                NotRunning(f"process {self._definition.name!r} is {self._state.value}; nothing to signal")
            )
            return
        logger.info(
            "process %r: sending %s to group %d on request",
            self._definition.name,
            signal_number.name,
            run.child.process_group,
        )
        run.requested_signal = signal_number
        run.child.signal_group(signal_number)
        run.end_waiters.append(reply)
        self._context.scheduler.call_later(
            KILL_REPLY_WAIT_S, lambda: self.actor_ref.tell(ReplyDeadline(reply))
        )

    def _retire(self) -> bool:
        if self._state in ACTIVE_STATES:
            return False
        self._retired = True
        self._context.writer.tell(DeleteProcessData(self._process_id))
        self._context.board.remove(self._definition.name)
        self.stop()
        return True

    # Runs ----------------------------------------------------------------------------------

    def _start_and_reply(self, reply: Reply, requested_by: str) -> None:
        try:
            self._start_run(requested_by)
        except PmError as error:
            reply.set_exception(error)
            return
        reply.set_result(self._record())

    def _start_run(self, requested_by: str) -> None:
        definition = self._definition
        self._change_state(ProcessState.STARTING, f"{requested_by} asked for a run")
        run_id = self._context.run_ids.next()
        started_at = time.time()
        try:
            child = spawn(
                definition.executable,
                definition.command,
                definition.args,
                definition.cwd,
                child_environment(definition.env),
            )
        except OSError as error:
            reason = f"could not start {definition.executable}: {error.strerror or error}"
            self._outcome = RunOutcome(
                run_id=run_id, started_at=started_at, ended_at=time.time(), end_reason=reason
            )
            self._context.writer.tell(
                RecordRunStart(run_id, self._process_id, None, started_at, requested_by)
            )
            self._context.writer.tell(
                RecordRunEnd(run_id, time.time(), None, None, reason, ProcessState.CRASHED)
            )
            self._change_state(ProcessState.CRASHED, reason)
            raise SpawnFailed(reason) from None
        self._outcome = RunOutcome(run_id=run_id, pid=child.pid, started_at=started_at)
        self._context.writer.tell(
            RecordRunStart(run_id, self._process_id, child.pid, started_at, requested_by)
        )
        actor = self.actor_ref
        watch = RunWatch(
            process_id=self._process_id,
            run_id=run_id,
            child=child,
            on_exit=lambda status: actor.tell(ChildExited(run_id, status)),
            on_output_complete=lambda: actor.tell(OutputComplete(run_id)),
        )
        self._run = LiveRun(watch)
        self._context.pipe_reader.watch(watch)
        self._change_state(ProcessState.RUNNING, f"spawned pid {child.pid}")

    def _begin_stop(self, run: LiveRun, reason: str, timeout_s: float | None) -> None:
        if run.stop_reason is not None or run.exit_status is not None:
            return  # already stopping, or already ended and only draining its output
        run.stop_reason = reason
        self._change_state(ProcessState.STOPPING, reason)
        run.child.signal_group(signal.SIGTERM)
        timeout = self._definition.stop_timeout_s if timeout_s is None else timeout_s
        run_id = run.run_id
        self._context.scheduler.call_later(timeout, lambda: self.actor_ref.tell(StopTimeout(run_id)))

    def _current(self, run_id: int) -> LiveRun | None:
        """The live run if `run_id` is it; a late message about an earlier run is ignored."""
        if self._run is not None and self._run.run_id == run_id:
            return self._run
        return None

    def _on_stop_timeout(self, run_id: int) -> None:
        run = self._current(run_id)
        if run is None or run.exit_status is not None:
            return
        logger.warning(
            "process %r: did not stop after SIGTERM; sending SIGKILL to group %d",
            self._definition.name,
            run.child.process_group,
        )
        run.killed_at_timeout = True
        run.child.signal_group(signal.SIGKILL)

    def _on_child_exited(self, run_id: int, status: int) -> None:
        run = self._current(run_id)
        if run is None:
            return
        run.exit_status = status
        self._outcome.ended_at = time.time()
        if run.output_complete:
            self._finish_run(run)
        else:
            self._context.scheduler.call_later(
                DRAIN_GRACE_S, lambda: self.actor_ref.tell(DrainTimeout(run_id))
            )

    def _on_output_complete(self, run_id: int) -> None:
        run = self._current(run_id)
        if run is None:
            return
        run.output_complete = True
        if run.exit_status is not None:
            self._finish_run(run)

    def _on_drain_timeout(self, run_id: int) -> None:
        run = self._current(run_id)
        if run is None or run.output_complete:
            return
        logger.warning(
            "process %r: exited but its pipes stay open; killing what it left behind", self._definition.name
        )
        run.child.signal_group(signal.SIGKILL)
        self._context.pipe_reader.close_output(run.watch)

    def _finish_run(self, run: LiveRun) -> None:
        status = run.exit_status
        if status is None:
            raise InternalError("finishing a run whose child has not exited")
        # Whatever is left of the group would be an orphan of ours (zombies ignore it).
        run.child.signal_group(signal.SIGKILL)
        state, reason = self._ending(run, status)
        outcome = self._outcome
        outcome.exit_code = status if status >= 0 else None
        outcome.exit_signal = signal_name(-status) if status < 0 else None
        outcome.end_reason = reason
        outcome.ended_at = outcome.ended_at or time.time()
        self._context.writer.tell(
            RecordRunEnd(run.run_id, outcome.ended_at, outcome.exit_code, outcome.exit_signal, reason, state)
        )
        self._run = None
        self._change_state(state, reason)
        record = self._record()
        for waiter in run.end_waiters:
            self._resolve(waiter, record)
        if run.restart_waiters:
            self._restarts += 1
            for waiter in run.restart_waiters:
                self._start_and_reply_once(waiter)

    def _start_and_reply_once(self, reply: Reply) -> None:
        """The first restart waiter starts the run; any others get the same record."""
        if self._run is None:
            self._start_and_reply(reply, requested_by="restart_process")
        else:
            self._resolve(reply, self._record())

    def _ending(self, run: LiveRun, status: int) -> tuple[ProcessState, str]:
        """The state a run ends in, and why: asked to stop, ended by a signal we sent, or on its own."""
        if run.stop_reason is not None:
            suffix = " (SIGKILL after the stop timeout)" if run.killed_at_timeout else ""
            return ProcessState.STOPPED, run.stop_reason + suffix
        if run.requested_signal is not None and status == -run.requested_signal:
            return ProcessState.STOPPED, f"ended by {signal_name(run.requested_signal)} sent on request"
        if status == 0:
            return ProcessState.EXITED, "exited on its own with code 0"
        if status < 0:
            return ProcessState.CRASHED, f"killed by {signal_name(-status)}"
        return ProcessState.CRASHED, f"exited on its own with code {status}"

    # State and records ---------------------------------------------------------------------

    def _change_state(self, target: ProcessState, reason: str) -> None:
        check_transition(self._definition.name, self._state, target)
        logger.info(
            "process %r: %s -> %s (%s)", self._definition.name, self._state.value, target.value, reason
        )
        self._state = target
        self._publish()

    def _publish(self) -> None:
        if not self._retired:
            self._context.board.publish(self._record())

    def _record(self) -> ProcessRecord:
        definition = self._definition
        outcome = self._outcome
        return ProcessRecord(
            name=definition.name,
            state=self._state,
            pid=self._run.child.pid if self._run is not None else None,
            command=definition.command,
            args=list(definition.args),
            cwd=definition.cwd,
            restarts=self._restarts,
            exit_code=outcome.exit_code,
            started_at=iso_utc(outcome.started_at),
            ended_at=iso_utc(outcome.ended_at) if self._run is None else None,
            health=Health.UNKNOWN,
            exit_signal=outcome.exit_signal,
            end_reason=outcome.end_reason,
            run_id=outcome.run_id,
        )

    @staticmethod
    def _resolve(reply: Reply, record: ProcessRecord) -> None:
        if not reply.done():
            reply.set_result(record)
