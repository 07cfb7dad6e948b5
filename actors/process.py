"""ProcessActor: one per managed process, the only owner of its child.

It spawns runs, signals the process group, restarts on its policy with backoff, reacts to
health and resource reports, and decides each state from the table in `pm_actors.states`,
logging every transition with its reason. A run is reported ended only when the child is
reaped AND both its pipes reached EOF AND their lines are committed, so a client that sees
`exited` finds the whole output stored. Nothing here sleeps: timeouts and backoff delays are
scheduler callbacks that `tell` this actor.

Every hook and handler below runs on this actor's own thread.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from typing import Any

from pm_actors.actors import restart_policy
from pm_actors.actors.base import DaemonActor, answer, fail
from pm_actors.actors.child import AdoptedChild
from pm_actors.actors.commands import child_environment
from pm_actors.actors.definition_changes import dropped_settings, with_configuration, with_restart_changes
from pm_actors.actors.executables import spawn_checked
from pm_actors.actors.keeper_link import AdoptedRun
from pm_actors.actors.messages import (
    Adopt,
    Call,
    ChildExited,
    CrashExplained,
    DrainTimeout,
    HealthObserved,
    Launch,
    LimitBreached,
    OutputComplete,
    RecordRunEnd,
    RecordRunStart,
    Reply,
    ReplyDeadline,
    RestartDue,
    Retire,
    SaveDefinition,
    Stop,
    StopTimeout,
)
from pm_actors.actors.observer_messages import LastMemory, ListeningPorts
from pm_actors.actors.process_input import send_input
from pm_actors.actors.process_view import ProcessView, configured_info, restarted_record, started_record
from pm_actors.actors.restart_schedule import RestartSchedule
from pm_actors.actors.run import (
    RESTORED_BY,
    AfterStop,
    LiveRun,
    ProcessContext,
    RunOutcome,
    end_of_run,
    ending_of,
    supervision_of,
)
from pm_actors.actors.run_observers import RunObservers
from pm_actors.api import (
    ConfigureProcess,
    GetProcessInfo,
    KillProcess,
    RestartProcess,
    SendInput,
    StopProcess,
)
from pm_actors.definition import ProcessDefinition
from pm_actors.errors import AlreadyRunning, InternalError, NotRunning, PmError, SpawnFailed
from pm_actors.results import Breach, HealthReport, ProcessInfo, ProcessRecord
from pm_actors.states import ACTIVE_STATES, Health, ProcessState, check_transition

logger = logging.getLogger(__name__)

DRAIN_GRACE_S = 2.0
"""After the child exits, how long its pipes may stay open (held by something it left
behind) before we kill its group and close them: long enough for a slow flush, short enough
that a client is not kept waiting for the end."""
KILL_REPLY_WAIT_S = 1.0
"""kill_process answers when the process has ended, or after this if the signal did not end it."""


class ProcessActor(DaemonActor):
    may_ask = frozenset({"MetricsActor"})

    def __init__(
        self,
        process_id: int,
        definition: ProcessDefinition,
        context: ProcessContext,
        state: ProcessState = ProcessState.STOPPED,
        outcome: RunOutcome | None = None,
        restarts: int = 0,
    ) -> None:
        super().__init__()
        self._process_id = process_id
        self._definition = definition
        self._context = context
        self._state = state
        self._outcome = outcome or RunOutcome()
        self._run: LiveRun | None = None
        self._schedule = RestartSchedule(context.scheduler, self.actor_ref, restarts)
        self._observers = RunObservers(context, definition.name, process_id, self.actor_ref)
        self._view = ProcessView()
        self._view.remember_run(self._outcome)
        self._retired = False

    def on_start(self) -> None:
        self._publish()

    def handle(self, message: Any) -> Any:
        match message:
            case Launch(definition, reply, start, requested_by):
                self._launch(definition, reply, start, requested_by)
            case Adopt(run):
                self._adopt(run)
            case Call(StopProcess(timeout_s=timeout_s), reply):
                self._request_stop(reply, "stopped on request", timeout_s)
            case Stop(reply, reason, timeout_s):
                self._request_stop(reply, reason, timeout_s)
            case Call(RestartProcess() as request, reply):
                self._restart(reply, request)
            case Call(KillProcess(signal=name), reply):
                self._kill(reply, signal.Signals[name])
            case Call(SendInput() as request, reply):
                answer(reply, send_input(self._context, self._process_id, self._live(), request))
            case Call(GetProcessInfo(), reply):
                answer(reply, self._info())
            case Call(ConfigureProcess() as request, reply):
                changed = self._configure(request)
                answer(reply, configured_info(self._info(), changed))
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
            case RestartDue(generation):
                self._on_restart_due(generation)
            case HealthObserved(run_id, report):
                self._on_health_observed(run_id, report)
            case LimitBreached(run_id, breach):
                self._on_limit_breached(run_id, breach)
            case CrashExplained(run_id, phrase, error_id):
                self._on_crash_explained(run_id, phrase, error_id)
            case ReplyDeadline(reply):
                answer(reply, self._record())
            case _:
                logger.error("process %r: unexpected message %r", self._name, message)
        return None

    @property
    def _name(self) -> str:
        return self._definition.name

    # Requests ------------------------------------------------------------------------------

    def _launch(
        self, definition: ProcessDefinition | None, reply: Reply, start: bool, requested_by: str
    ) -> None:
        """Start a run of `definition` (None: of the stored one), or with `start` False only store it."""
        if self._state in ACTIVE_STATES:
            raise AlreadyRunning(
                f"process {self._name!r} is already {self._state.value}; "
                "use restart_process, or stop_process first"
            )
        dropped: list[str] = []
        if definition is not None:
            dropped = dropped_settings(self._definition, definition, self._context.config)
            self._store_definition(definition)
        if start:
            if requested_by == RESTORED_BY:  # the series goes on: one more restart of it
                self._schedule.restarts += 1
            else:
                self._schedule.start_over()
            self._start_run(requested_by, lambda record: answer(reply, started_record(record, dropped)))
        else:
            self._publish()
            answer(reply, started_record(self._record(), dropped))

    def _request_stop(self, reply: Reply, reason: str, timeout_s: float | None) -> None:
        run = self._run
        if run is None:
            if self._state is ProcessState.BACKOFF:
                self._change_state(ProcessState.STOPPED, f"{reason} while waiting to restart")
            self._schedule.forget_pending()
            answer(reply, self._record())
            return
        run.end_waiters.append(reply)
        self._begin_stop(run, reason, timeout_s, "end")

    def _restart(self, reply: Reply, request: RestartProcess) -> None:
        definition, changed = with_restart_changes(self._definition, request)
        if changed:
            self._store_definition(definition)
        run = self._run
        if run is None:
            self._schedule.forget_pending()
            self._schedule.restarts += 1
            self._start_run(
                "restart_process", lambda record: answer(reply, restarted_record(record, changed))
            )
            return
        run.restart_waiters.append((reply, changed))
        self._begin_stop(run, "stopped to restart", None, "restart")

    def _live(self) -> LiveRun:
        """The run whose child is alive, or NotRunning."""
        run = self._run
        if run is None or run.exit_status is not None:
            raise NotRunning(f"process {self._name!r} is {self._state.value}: no child of it is running")
        return run

    def _store_definition(self, definition: ProcessDefinition) -> None:
        self._definition = definition
        self._context.writer.tell(SaveDefinition(self._process_id, definition, time.time()))

    def _configure(self, request: ConfigureProcess) -> list[str]:
        """New supervision settings, stored, and applied to the live run where they watch it;
        returns the names of the settings that changed."""
        definition, changed = with_configuration(self._definition, request)
        self._store_definition(definition)
        if self._run is not None and "limits" in changed:
            self._observers.track(definition, self._run.run_id, self._run.child.pid)
        if self._run is not None and "health_check" in changed:
            self._view.health = Health.UNKNOWN
            self._publish()
            self._observers.watch_health(definition, self._run.run_id)
        return changed

    def _kill(self, reply: Reply, signal_number: signal.Signals) -> None:
        run = self._live()
        logger.info("process %r: sending %s to its group on request", self._name, signal_number.name)
        run.requested_signal = signal_number
        run.child.signal_tree(signal_number)
        run.end_waiters.append(reply)
        self._context.scheduler.tell_later(KILL_REPLY_WAIT_S, self.actor_ref, ReplyDeadline(reply))

    def _retire(self) -> bool:
        if self._state in ACTIVE_STATES:
            return False
        self._schedule.forget_pending()
        self._retired = True
        self._context.board.remove(self._name)
        self.stop()
        return True

    # Runs ----------------------------------------------------------------------------------

    def _start_run(self, requested_by: str, tell: Callable[[ProcessRecord], None] | None = None) -> None:
        """Spawn a run; `tell` gets its record once the run is committed to the database, so a
        client is never told of a run that a crash of the daemon would forget."""
        definition = self._definition
        self._change_state(ProcessState.STARTING, f"{requested_by} asked for a run")
        run_id = self._context.run_ids.next()
        started_at = time.time()
        self._outcome = RunOutcome(run_id=run_id, started_at=started_at, requested_by=requested_by)
        try:
            markers, environment = self._context.markers, child_environment(definition.env)
            child = spawn_checked(self._context.executables, definition, environment, markers.of(run_id))
        except Exception as error:
            # Whatever went wrong, the run is over and the process can be started, stopped or
            # deleted again: never left in `starting`.
            raise self._spawn_failed(
                RecordRunStart(run_id, self._process_id, None, started_at, requested_by), error
            ) from None
        self._outcome.pid = child.pid
        self._run = LiveRun.watching(self._process_id, run_id, child, self.actor_ref)
        self._change_state(ProcessState.RUNNING, f"spawned pid {child.pid}")
        record = self._record()
        on_committed = None if tell is None else lambda: tell(record)
        start = RecordRunStart(run_id, self._process_id, child.pid, started_at, requested_by, on_committed)
        self._context.writer.tell(start)  # before the run's first lines, which the IO thread sends
        self._context.keeper.hold(run_id, self._process_id, child.pid, started_at, child.held_fds())
        self._context.pipe_reader.watch(self._run.watch)
        self._observers.observe(definition, run_id, child.pid)

    def _adopt(self, adopted: AdoptedRun) -> None:
        """Carry on a run that a dead daemon started: the keeper kept it running and its pipes
        open, and reports its exit (the child is the keeper's now)."""
        marker = self._context.markers.of(adopted.run_id)
        child = AdoptedChild(adopted.pid, marker, adopted.stdout_fd, adopted.stderr_fd, adopted.pidfd)
        self._outcome = RunOutcome(
            run_id=adopted.run_id, pid=adopted.pid, started_at=adopted.started_at, requested_by="adopted"
        )
        self._run = LiveRun.watching(self._process_id, adopted.run_id, child, self.actor_ref)
        self._state = ProcessState.RUNNING  # it never stopped running: no transition to log
        self._publish()
        logger.info(
            "process %r: carrying on pid %d, which the previous daemon started", self._name, adopted.pid
        )
        self._context.pipe_reader.watch(self._run.watch)
        self._context.adoptions.watch(self._run.watch)
        self._observers.observe(self._definition, adopted.run_id, adopted.pid)

    def _spawn_failed(self, start: RecordRunStart, error: Exception) -> PmError:
        """Record a run that never started, end in `crashed`, and say why (a refusal of the
        executable's check keeps its own code)."""
        detail = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        reason = f"could not start {self._definition.executable}: {detail}"
        self._outcome.ended_at = time.time()
        self._outcome.end_reason = reason
        self._outcome.end_state = ProcessState.CRASHED
        self._view.remember_run(self._outcome)
        self._context.writer.tell(start)
        self._context.writer.tell(self._run_end(start.run_id))
        self._change_state(ProcessState.CRASHED, reason)
        return error if isinstance(error, PmError) else SpawnFailed(reason)

    def _begin_stop(self, run: LiveRun, reason: str, timeout_s: float | None, after_stop: AfterStop) -> None:
        if not run.ask_to_stop(reason, after_stop):
            return
        self._change_state(ProcessState.STOPPING, reason)
        run.child.signal_tree(signal.SIGTERM)
        timeout = self._definition.stop_timeout_s if timeout_s is None else timeout_s
        run_id = run.run_id
        self._context.scheduler.tell_later(timeout, self.actor_ref, StopTimeout(run_id))

    def _current(self, run_id: int) -> LiveRun | None:
        """The live run if `run_id` is it; a late message about an earlier run is ignored."""
        if self._run is not None and self._run.run_id == run_id:
            return self._run
        return None

    def _on_stop_timeout(self, run_id: int) -> None:
        run = self._current(run_id)
        if run is None or run.exit_status is not None:
            return
        logger.warning("process %r: did not stop after SIGTERM; sending SIGKILL to its group", self._name)
        run.killed_at_timeout = True
        run.child.signal_tree(signal.SIGKILL)

    def _on_child_exited(self, run_id: int, status: int) -> None:
        run = self._current(run_id)
        if run is None:
            return
        self._outcome.ended_at = time.time()
        if run.note_exit(status):
            self._finish_run(run)
        else:
            self._context.scheduler.tell_later(DRAIN_GRACE_S, self.actor_ref, DrainTimeout(run_id))

    def _on_output_complete(self, run_id: int) -> None:
        run = self._current(run_id)
        if run is not None and run.note_output_complete():
            self._finish_run(run)

    def _on_drain_timeout(self, run_id: int) -> None:
        run = self._current(run_id)
        if run is None or run.output_complete:
            return
        logger.warning("process %r: exited but its pipes stay open; killing what it left behind", self._name)
        run.child.signal_tree(signal.SIGKILL)
        self._context.pipe_reader.close_output(run.watch)

    def _finish_run(self, run: LiveRun) -> None:
        status = run.exit_status
        if status is None:
            raise InternalError("finishing a run whose child has not exited")
        # Whatever is left of the run (in its group or not) would be an orphan of ours.
        run.child.signal_tree(signal.SIGKILL)
        run.child.close_input()
        self._context.keeper.release(run.run_id)
        state, reason = ending_of(run, status)
        outcome = self._outcome
        outcome.record_end(status, reason, state)
        self._context.writer.tell(self._run_end(run.run_id))  # before untracking: it may ask its memory
        self._observers.forget()
        self._run = None
        self._view.remember_run(outcome)
        self._view.health = Health.UNKNOWN
        self._change_state(state, reason)
        record = self._record()
        for waiter in run.end_waiters:
            answer(waiter, record)
        if run.after_stop == "restart":
            self._restart_after_stop(run)
        elif run.after_stop == "backoff" or state is not ProcessState.STOPPED:
            self._apply_restart_policy(state, reason)

    def _run_end(self, run_id: int) -> RecordRunEnd:
        """The end of the latest run, for the writer. A crash by SIGKILL carries the tree's last
        memory sample against its limit: the out-of-memory killer's mark."""
        outcome = self._outcome
        if outcome.end_state is ProcessState.CRASHED and outcome.exit_signal == "SIGKILL":
            memory_mb = self.ask(self._context.metrics, LastMemory(self._name))
            limit_mb = self._observers.limits(self._definition).max_memory_mb
            return end_of_run(outcome, run_id, self.actor_ref, memory_mb, limit_mb)
        return end_of_run(outcome, run_id, self.actor_ref)

    def _on_crash_explained(self, run_id: int, phrase: str, error_id: int) -> None:
        self._view.explain(run_id, phrase, error_id)
        if self._outcome.run_id == run_id:  # else a later run began meanwhile: its record shows that one
            self._outcome.crash, self._outcome.error_id = phrase, error_id
            self._publish()

    def _restart_after_stop(self, run: LiveRun) -> None:
        """restart_process asked for it: start at once, and answer every asker."""
        self._schedule.restarts += 1
        try:
            self._start_run("restart_process", lambda record: _answer_restarts(run, record))
        except PmError as error:
            for reply, _ in run.restart_waiters:
                fail(reply, error)

    # Supervision ---------------------------------------------------------------------------

    def _apply_restart_policy(self, ended_state: ProcessState, reason: str) -> None:
        decision = self._schedule.after_run(self._definition, ended_state, reason, self._outcome.duration_s())
        if decision.action == "backoff":
            self._change_state(ProcessState.BACKOFF, decision.reason)
        elif decision.action == "fatal":
            self._outcome.end_reason = decision.reason
            self._change_state(ProcessState.FATAL, decision.reason)

    def _on_restart_due(self, generation: int) -> None:
        waiting = self._state in (ProcessState.BACKOFF, ProcessState.FATAL)
        if not waiting or not self._schedule.take_due(generation, self._state is ProcessState.FATAL):
            return
        try:
            self._start_run("automatic restart")
        except PmError as error:
            self._apply_restart_policy(ProcessState.CRASHED, error.message)

    def _on_health_observed(self, run_id: int, report: HealthReport) -> None:
        run = self._current(run_id)
        if run is None:
            return
        previous = self._view.observe_health(report)
        if report.health is previous:
            return
        self._publish()
        logger.info(
            "process %r: health %s -> %s (%s)", self._name, previous.value, report.health.value, report.detail
        )
        check, auto_restart = self._definition.health_check, self._context.config.auto_restart_enabled
        reason = restart_policy.stop_for_health(report, check, auto_restart)
        if reason is not None and self._state is ProcessState.RUNNING:
            self._begin_stop(run, reason, None, "backoff")

    def _on_limit_breached(self, run_id: int, breach: Breach) -> None:
        run = self._current(run_id)
        if run is None:
            return
        self._view.breaches.append(breach)
        if breach.enforced and self._state is ProcessState.RUNNING:
            # Through the backoff like a crash: a child that always overshoots is not restarted in a storm.
            self._begin_stop(run, f"restarted because {breach.detail}", None, "backoff")

    # State and records ---------------------------------------------------------------------

    def _change_state(self, target: ProcessState, reason: str) -> None:
        check_transition(self._name, self._state, target)
        logger.info("process %r: %s -> %s (%s)", self._name, self._state.value, target.value, reason)
        supervision = supervision_of(self._outcome.run_id, self._state, target, reason)
        if supervision is not None:
            self._context.writer.tell(supervision)
        self._state = target
        self._publish()

    def _publish(self) -> None:
        if not self._retired:
            self._context.board.publish(self._record())

    def _record(self) -> ProcessRecord:
        pid = self._run.child.pid if self._run is not None else None
        return self._view.record(self._definition, self._state, self._outcome, pid, self._schedule.restarts)

    def _info(self) -> ProcessInfo:
        ports: list[int] = self.ask(self._context.metrics, ListeningPorts(self._name)) if self._run else []
        limits = self._observers.limits(self._definition)
        return self._view.info(
            self._record(), self._definition, limits, ports, self._schedule.next_restart_at
        )


def _answer_restarts(run: LiveRun, record: ProcessRecord) -> None:
    """Answer every restart_process caller of `run` with the new run's record."""
    for reply, changed in run.restart_waiters:
        answer(reply, restarted_record(record, changed))
