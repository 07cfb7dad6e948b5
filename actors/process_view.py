"""What a client sees of one process: its record, its info, and the history behind them.

Owned by one ProcessActor and used on its thread only. The actor decides states and runs; this
object keeps what is shown about them (health, the last check, breaches, recent runs) and
builds the `ProcessRecord` and `ProcessInfo` structs from the actor's facts.
"""

from __future__ import annotations

import collections

import msgspec

from pm_actors.actors.run import RunOutcome, run_summary
from pm_actors.definition import ProcessDefinition
from pm_actors.results import (
    Breach,
    ConfiguredProcess,
    HealthReport,
    ProcessInfo,
    ProcessRecord,
    RestartedProcess,
    RunSummary,
    StartedProcess,
    iso_utc,
)
from pm_actors.specs import Limits
from pm_actors.states import Health, ProcessState

BREACHES_KEPT = 20
"""Recent limit breaches shown by get_process_info; older ones are in the daemon log."""
RUNS_SHOWN = 10
"""Recent runs shown by get_process_info; every run stays in the database's runs table."""


class ProcessView:
    def __init__(self) -> None:
        self.health = Health.UNKNOWN
        self.last_health: HealthReport | None = None
        self.breaches: collections.deque[Breach] = collections.deque(maxlen=BREACHES_KEPT)
        self._recent_runs: collections.deque[RunSummary] = collections.deque(maxlen=RUNS_SHOWN)

    def observe_health(self, report: HealthReport) -> Health:
        """Take the outcome of a health check; returns the health before it."""
        previous, self.health, self.last_health = self.health, report.health, report
        return previous

    def remember_run(self, outcome: RunOutcome) -> None:
        """Keep the latest run, once ended, for get_process_info."""
        summary = run_summary(outcome)
        if summary is not None and summary.ended_at is not None:
            self._recent_runs.appendleft(summary)

    def explain(self, run_id: int, crash: str, error_id: int) -> None:
        """What explains the crash of a run kept here (the writer says so after its end)."""
        for index, summary in enumerate(self._recent_runs):
            if summary.run_id == run_id:
                self._recent_runs[index] = msgspec.structs.replace(summary, crash=crash, error_id=error_id)

    def record(
        self,
        definition: ProcessDefinition,
        state: ProcessState,
        outcome: RunOutcome,
        pid: int | None,
        restarts: int,
    ) -> ProcessRecord:
        """The record of the process; `pid` is the live child's, None when none runs."""
        return ProcessRecord(
            name=definition.name,
            state=state,
            pid=pid,
            command=definition.command,
            args=list(definition.args),
            cwd=definition.cwd,
            restarts=restarts,
            exit_code=outcome.exit_code,
            started_at=iso_utc(outcome.started_at),
            ended_at=iso_utc(outcome.ended_at) if pid is None else None,
            health=self.health,
            exit_signal=outcome.exit_signal,
            end_reason=outcome.end_reason,
            run_id=outcome.run_id,
            crash=outcome.crash,
            error_id=outcome.error_id,
        )

    def info(
        self,
        record: ProcessRecord,
        definition: ProcessDefinition,
        limits: Limits,
        ports: list[int],
        next_restart_at: float | None,
    ) -> ProcessInfo:
        """Everything about the process: its record, its definition and what was observed."""
        return ProcessInfo(
            **msgspec.structs.asdict(record),
            env=dict(definition.env),
            restart=definition.restart,
            max_restarts=definition.max_restarts,
            backoff=definition.backoff,
            health_check=definition.health_check,
            limits=limits,
            stop_timeout_s=definition.stop_timeout_s,
            listening_ports=ports,
            last_health_check=self.last_health,
            breaches=list(self.breaches),
            next_restart_at=iso_utc(next_restart_at),
            recent_runs=list(self._recent_runs),
        )


def configured_info(info: ProcessInfo, changed: list[str]) -> ConfiguredProcess:
    """The info configure_process answers with, naming the settings whose value changed."""
    return ConfiguredProcess(**msgspec.structs.asdict(info), changed=changed)


def restarted_record(record: ProcessRecord, changed: list[str]) -> RestartedProcess:
    """The record a restart answers with, naming what it changed in the definition."""
    return RestartedProcess(**msgspec.structs.asdict(record), changed=changed)


def started_record(record: ProcessRecord, dropped: list[str]) -> StartedProcess:
    """The record a start answers with, naming what its new definition dropped of the old one."""
    return StartedProcess(**msgspec.structs.asdict(record), dropped=dropped)
