"""SupervisorActor: the registry of managed processes, and the front door of every request.

It validates what a client asks for (names, commands, limits), then hands the request to the
actor that owns the answer: a ProcessActor for lifecycle requests, the LogReaderActor for
reads. The reply future travels with the request, so the supervisor never waits for a child
to start or stop and keeps answering everyone else meanwhile.

Every hook and handler below runs on this actor's own thread.
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import pykka

from pm_actors.actors import restart_policy
from pm_actors.actors.base import DaemonActor, answer, relay, settle_all
from pm_actors.actors.child import end_orphaned_runs
from pm_actors.actors.commands import check_environment
from pm_actors.actors.daemon_status import Clock, daemon_status
from pm_actors.actors.declarations import allowed_check, check_uses_stored, declared_definition
from pm_actors.actors.delivery import tell_if_alive
from pm_actors.actors.messages import (
    Adopt,
    Call,
    DefineMembers,
    DeleteLines,
    DeleteProcessData,
    Launch,
    ProcessRemoved,
    ReadErrors,
    ReadLogs,
    RecordRunEnd,
    Reply,
    Retire,
    StartWait,
    Stop,
    StopAll,
)
from pm_actors.actors.observer_messages import CheckHealthNow, ProcessStatsQuery, SystemStatsQuery
from pm_actors.actors.process import ProcessActor
from pm_actors.actors.run import (
    DAEMON_STOP_REASON,
    RESTORED_BY,
    ProcessContext,
    RunOutcome,
    by_daemon_shutdown,
    outcome_of,
)
from pm_actors.actors.store import StoredRun, StoredState
from pm_actors.actors.time_bounds import parse_time
from pm_actors.api import (
    CheckProcessHealth,
    ClearLogs,
    ConfigureProcess,
    DeleteProcess,
    GetDaemonStatus,
    GetLogs,
    GetProcessInfo,
    GetProcessStats,
    GetSystemStats,
    KillProcess,
    ListProcesses,
    RestartProcess,
    SearchLogs,
    SendInput,
    StartProcess,
    StopProcess,
    TailLogs,
    WaitFor,
)
from pm_actors.config import Config
from pm_actors.definition import ProcessDefinition
from pm_actors.error_requests import GetErrors, GetLatestErrors, MarkErrorResolved
from pm_actors.errors import (
    AlreadyRunning,
    DaemonUnavailable,
    InternalError,
    LimitReached,
    PmError,
    ProcessNotFound,
)
from pm_actors.group_requests import (
    AddToGroup,
    CreateGroup,
    DeleteGroup,
    GroupMember,
    GroupRequest,
    ListGroups,
    RemoveFromGroup,
    StartGroup,
    StopGroup,
)
from pm_actors.log_results import ClearedLogs
from pm_actors.request_base import Request
from pm_actors.results import DeletedProcess, ProcessList, iso_utc
from pm_actors.specs import ProcessSpec
from pm_actors.states import ACTIVE_STATES, ProcessState

logger = logging.getLogger(__name__)

ORPHANED_RUN_REASON = "ended when the daemon restarted after dying"


@dataclass
class ManagedProcess:
    process_id: int
    actor: pykka.ActorRef[Any]


class SupervisorActor(DaemonActor):
    may_ask = frozenset({"ProcessActor"})

    def __init__(
        self,
        config: Config,
        context: ProcessContext,
        reader: pykka.ActorRef[Any],
        waiter: pykka.ActorRef[Any],
        groups: pykka.ActorRef[Any],
        stored: StoredState,
    ) -> None:
        super().__init__()
        self._config = config
        self._context = context
        self._reader = reader
        self._waiter = waiter
        self._groups = groups
        self._stored = stored
        self._processes: dict[str, ManagedProcess] = {}
        self._clock = Clock()

    def on_start(self) -> None:
        """Bring back the stored definitions; end what a dead daemon left running."""
        self._end_orphaned_runs()
        for stored in self._stored.definitions:
            last_run = self._stored.last_runs.get(stored.process_id)
            outcome, state = _restored_outcome(last_run)
            restarts = self._stored.restart_counts.get(stored.process_id, 0)
            managed = self._add(stored.process_id, stored.definition, state, outcome, restarts)
            adopted = self._context.adoptions.take(last_run.run_id) if last_run else None
            if adopted is not None:
                managed.actor.tell(Adopt(adopted))
            elif _carries_on(last_run) and restart_policy.restores(stored.definition):
                self._restore(stored.definition.name, managed)
        self._context.adoptions.release_unclaimed()
        logger.info("supervisor: %d stored process definitions restored", len(self._processes))

    def _restore(self, name: str, managed: ManagedProcess) -> None:
        """Start a process that was running (or waiting to restart) when the last daemon ended,
        as it asks."""
        try:
            self._check_room_for(name)
        except PmError as error:
            logger.warning("supervisor: not restoring %r: %s", name, error.message)
            return
        logger.info("supervisor: restoring %r, running or due to restart when the last daemon ended", name)
        managed.actor.tell(Launch(None, concurrent.futures.Future(), requested_by=RESTORED_BY))

    def on_stop(self) -> None:
        for managed in self._processes.values():
            managed.actor.stop()
        super().on_stop()

    def handle(self, message: Any) -> Any:
        if isinstance(message, StopAll):
            return self._stop_all()
        if isinstance(message, DefineMembers):
            return self._define_members(message.members, message.reply)
        if not isinstance(message, Call):
            raise InternalError(f"the supervisor cannot handle {type(message).__name__}")
        HANDLERS[type(message.request)](self, message.request, message.reply)
        return None

    # Handlers ------------------------------------------------------------------------------

    def _start_process(self, request: StartProcess, reply: Reply) -> None:
        if request.command is None:
            stored = self._stored_process(request, "start_process with `name` alone")
            self._check_room_for(request.name)
            stored.actor.tell(Launch(None, reply))
            return
        definition = declared_definition(request, request.command, self._config, self._context.executables)
        managed = self._processes.get(request.name)
        self._check_room_for(request.name)
        if managed is None:
            managed = self._add(
                self._context.process_ids.next(), definition, ProcessState.STOPPED, RunOutcome()
            )
        managed.actor.tell(Launch(definition, reply))

    def _define_members(self, members: list[GroupMember], reply: Reply) -> None:
        """Check every member, then store the definitions given inline (none is started)."""
        declared = []
        for member in members:
            if member.command is None:
                self._stored_process(member, f"group member {member.name!r} given without `command`")
                continue
            record = self._context.board.get(member.name)
            if record is not None and record.state in ACTIVE_STATES:
                raise AlreadyRunning(
                    f"process {member.name!r} is {record.state.value}: its definition cannot be replaced "
                    "while it runs; stop_process it first, or give the member by `name` alone"
                )
            declared.append(
                declared_definition(member, member.command, self._config, self._context.executables)
            )
        stored: list[Reply] = []
        for definition in declared:
            managed = self._processes.get(definition.name) or self._add(
                self._context.process_ids.next(), definition, ProcessState.STOPPED, RunOutcome()
            )
            stored.append(concurrent.futures.Future())
            managed.actor.tell(Launch(definition, stored[-1], start=False))
        settle_all(stored, reply)

    def _stored_process(self, spec: ProcessSpec, what: str) -> ManagedProcess:
        """The process whose stored definition `spec` (a name without a command) refers to."""
        check_uses_stored(spec, what)
        managed = self._processes.get(spec.name)
        if managed is None:
            raise ProcessNotFound(
                f"no process named {spec.name!r} is stored, so {what} has no definition to use; "
                "give `command` (and `args`) to declare it"
            )
        return managed

    def _restart_process(self, request: RestartProcess, reply: Reply) -> None:
        check_environment(request.env or {})
        self._check_room_for(request.name)
        self._forward(request, reply)

    def _forward(
        self, request: StopProcess | RestartProcess | KillProcess | SendInput | GetProcessInfo, reply: Reply
    ) -> None:
        self._managed(request.name).actor.tell(Call(request, reply))

    def _configure_process(self, request: ConfigureProcess, reply: Reply) -> None:
        managed = self._managed(request.name)
        record = self._context.board.get(request.name)
        if record is None:
            raise ProcessNotFound(f"process {request.name!r} was deleted meanwhile")
        allowed = msgspec.structs.replace(
            request, health_check=allowed_check(request.health_check, record.cwd, self._context.executables)
        )
        managed.actor.tell(Call(allowed, reply))

    def _process_stats(self, request: GetProcessStats, reply: Reply) -> None:
        self._managed(request.name)
        self._context.metrics.tell(ProcessStatsQuery(request.name, reply))

    def _check_health(self, request: CheckProcessHealth, reply: Reply) -> None:
        self._managed(request.name)
        self._context.health.tell(CheckHealthNow(request.name, reply))

    def _system_stats(self, request: GetSystemStats, reply: Reply) -> None:
        records = self._context.board.all()
        running = sum(1 for record in records if record.state is ProcessState.RUNNING)
        self._context.metrics.tell(SystemStatsQuery(reply, len(records), running))

    def _daemon_status(self, request: GetDaemonStatus, reply: Reply) -> None:
        answer(reply, daemon_status(self._config, self._clock, self._context.board.all()))

    def _wait_for(self, request: WaitFor, reply: Reply) -> None:
        self._waiter.tell(StartWait(request, self._managed(request.name).process_id, reply))

    def _delete_process(self, request: DeleteProcess, reply: Reply) -> None:
        """Answered once the writer has committed the deletion (or with why it could not)."""
        managed = self._managed(request.name)
        if not self.ask(managed.actor, Retire()):
            raise AlreadyRunning(f"process {request.name!r} is active; stop_process it before deleting it")
        del self._processes[request.name]
        tell_if_alive(self._groups, ProcessRemoved(request.name))
        self._context.events.forget_process(managed.process_id)
        written: Reply = concurrent.futures.Future()
        relay(
            written, reply, lambda lines: DeletedProcess(name=request.name, deleted=True, lines_deleted=lines)
        )
        self._context.writer.tell(DeleteProcessData(managed.process_id, written))

    def _clear_logs(self, request: ClearLogs, reply: Reply) -> None:
        """Answered once the writer has committed every deleted line (or with why it could not)."""
        process_id = None if request.name is None else self._managed(request.name).process_id
        before_ts = None if request.before is None else parse_time(request.before, time.time(), "before")
        cleared = [process_id] if process_id is not None else [m.process_id for m in self._processes.values()]

        def answer_cleared(lines: int) -> ClearedLogs:  # on the writer's thread, once committed
            for cleared_id in cleared:  # what a subscriber to their output shows has changed
                self._context.events.output_committed(cleared_id)
            return ClearedLogs(name=request.name, before=iso_utc(before_ts), lines_deleted=lines)

        written: Reply = concurrent.futures.Future()
        relay(written, reply, answer_cleared)
        self._context.writer.tell(DeleteLines(process_id, before_ts, written))

    def _to_groups(self, request: GroupRequest, reply: Reply) -> None:
        if not tell_if_alive(self._groups, Call(request, reply)):
            raise DaemonUnavailable("the daemon is stopping: groups are no longer served")

    def _list_processes(self, request: ListProcesses, reply: Reply) -> None:
        answer(reply, ProcessList(processes=self._context.board.all()))

    def _read_logs(self, request: GetLogs | TailLogs | SearchLogs, reply: Reply) -> None:
        process_id = None if request.name is None else self._managed(request.name).process_id
        self._reader.tell(ReadLogs(request, process_id, reply))

    def _read_errors(self, request: GetErrors | GetLatestErrors, reply: Reply) -> None:
        name = getattr(request, "name", None)
        process_id = None if name is None else self._managed(name).process_id
        self._reader.tell(ReadErrors(request, process_id, reply))

    def _resolve_error(self, request: MarkErrorResolved, reply: Reply) -> None:
        self._context.writer.tell(Call(request, reply))  # a write: in order with the writer's others

    def _stop_all(self) -> list[Reply]:
        """Stop every process at once, so shutdown waits for the slowest stop, not the sum."""
        replies: list[Reply] = []
        for managed in self._processes.values():
            reply: Reply = concurrent.futures.Future()
            managed.actor.tell(Stop(reply, DAEMON_STOP_REASON))
            replies.append(reply)
        return replies

    # Helpers -------------------------------------------------------------------------------

    def _managed(self, name: str) -> ManagedProcess:
        managed = self._processes.get(name)
        if managed is None:
            raise ProcessNotFound(f"no process named {name!r}; list_processes shows the managed ones")
        return managed

    def _check_room_for(self, name: str) -> None:
        """PM_MAX_PROCESSES counts active processes; an active one restarting needs no new room."""
        record = self._context.board.get(name)
        if record is not None and record.state in ACTIVE_STATES:
            return
        if self._context.board.active_count() >= self._config.max_processes:
            raise LimitReached(
                f"{self._config.max_processes} processes are active, the most PM_MAX_PROCESSES allows; "
                "stop one first or raise PM_MAX_PROCESSES"
            )

    def _add(
        self,
        process_id: int,
        definition: ProcessDefinition,
        state: ProcessState,
        outcome: RunOutcome,
        restarts: int = 0,
    ) -> ManagedProcess:
        self._context.events.name_process(process_id, definition.name)
        actor = ProcessActor.start(process_id, definition, self._context, state, outcome, restarts)
        managed = ManagedProcess(process_id, actor)
        self._processes[definition.name] = managed
        return managed

    def _end_orphaned_runs(self) -> None:
        """Runs a dead daemon left open: kill whatever is left of them (the leader's group and
        session, and every process carrying the run's marker, setsid'd or daemonised), close them."""
        held = self._context.adoptions.held_run_ids()
        orphaned = [run for run in self._stored.open_runs if run.run_id not in held]  # held: adopted below
        left = []
        for run in orphaned:
            if run.pid is not None:
                logger.warning(
                    "supervisor: killing what run %d (pid %d) left when its daemon died", run.run_id, run.pid
                )
                left.append((run.pid, run.started_at, self._context.markers.of(run.run_id)))
        end_orphaned_runs(left)
        for run in orphaned:
            self._context.writer.tell(
                RecordRunEnd(run.run_id, time.time(), None, None, ORPHANED_RUN_REASON, ProcessState.STOPPED)
            )


Handler = Callable[[SupervisorActor, Any, Reply], None]

HANDLERS: dict[type[Request], Handler] = {
    StartProcess: SupervisorActor._start_process,
    StopProcess: SupervisorActor._forward,
    RestartProcess: SupervisorActor._restart_process,
    KillProcess: SupervisorActor._forward,
    SendInput: SupervisorActor._forward,
    DeleteProcess: SupervisorActor._delete_process,
    ListProcesses: SupervisorActor._list_processes,
    GetLogs: SupervisorActor._read_logs,
    TailLogs: SupervisorActor._read_logs,
    SearchLogs: SupervisorActor._read_logs,
    ClearLogs: SupervisorActor._clear_logs,
    GetProcessInfo: SupervisorActor._forward,
    ConfigureProcess: SupervisorActor._configure_process,
    GetProcessStats: SupervisorActor._process_stats,
    CheckProcessHealth: SupervisorActor._check_health,
    GetSystemStats: SupervisorActor._system_stats,
    GetDaemonStatus: SupervisorActor._daemon_status,
    WaitFor: SupervisorActor._wait_for,
    CreateGroup: SupervisorActor._to_groups,
    AddToGroup: SupervisorActor._to_groups,
    RemoveFromGroup: SupervisorActor._to_groups,
    DeleteGroup: SupervisorActor._to_groups,
    StartGroup: SupervisorActor._to_groups,
    StopGroup: SupervisorActor._to_groups,
    ListGroups: SupervisorActor._to_groups,
    GetErrors: SupervisorActor._read_errors,
    GetLatestErrors: SupervisorActor._read_errors,
    MarkErrorResolved: SupervisorActor._resolve_error,
}
"""The supervisor's handler of each public request type (a test checks that none is missing)."""


def _carries_on(last_run: StoredRun | None) -> bool:
    """Whether a process's last run was still going when its daemon ended (stopped by the
    daemon's shutdown, or left open by a daemon that died), or had ended with a restart due."""
    if last_run is None:
        return False
    running = last_run.ended_at is None or by_daemon_shutdown(last_run.end_reason)
    return running or last_run.supervision == "backoff"


def _restored_outcome(last_run: StoredRun | None) -> tuple[RunOutcome, ProcessState]:
    """What a restored process shows until it runs again: its last run's end."""
    if last_run is None:
        return RunOutcome(), ProcessState.STOPPED
    outcome = outcome_of(last_run)
    outcome.end_reason = outcome.end_reason or ORPHANED_RUN_REASON
    shown = {"fatal": ProcessState.FATAL, "stopped": ProcessState.STOPPED}.get(last_run.supervision or "")
    return outcome, shown or outcome.end_state or ProcessState.STOPPED
