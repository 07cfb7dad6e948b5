"""The actor system: every part of the daemon, wired together, started and stopped in order.

The daemon and the in-process backend both run exactly this. `submit()` is the one way in:
it hands a public request to the supervisor and returns a `concurrent.futures.Future` that
resolves to the result struct or fails with a `PmError`.

Start order: database (migrated; first blocks of run and process ids reserved) -> scheduler
thread -> LogWriterActor -> LogReaderActor -> HealthActor, MetricsActor, WaitActor -> IO thread
-> GroupActor (with the stored groups) -> SupervisorActor (which restores the stored
definitions). Shutdown stops the GroupActor, then every child in parallel (so storing all their
output), then the rest backwards.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
from pathlib import Path
from typing import Any

import pykka

from pm_actors.actors.adoptions import Adoptions
from pm_actors.actors.child import become_subreaper, kill_adopted
from pm_actors.actors.descendants import RunMarkers
from pm_actors.actors.events import EventHub
from pm_actors.actors.executables import ExecutablePolicy
from pm_actors.actors.groups import GroupActor
from pm_actors.actors.health import HealthActor
from pm_actors.actors.keeper_link import KeeperLink
from pm_actors.actors.log_reader import LogReaderActor
from pm_actors.actors.log_writer import LogWriterActor
from pm_actors.actors.messages import Call, StopAll
from pm_actors.actors.metrics import MetricsActor
from pm_actors.actors.pipe_reader import PipeReader
from pm_actors.actors.read_budget import ReadBudget
from pm_actors.actors.records import RecordBoard
from pm_actors.actors.retention import RetentionPolicy
from pm_actors.actors.run import ProcessContext
from pm_actors.actors.scheduler import Scheduler
from pm_actors.actors.sequences import reserved_sequence
from pm_actors.actors.store import load_stored_state, open_write_connection
from pm_actors.actors.supervisor import SupervisorActor
from pm_actors.actors.waiter import WaitActor
from pm_actors.api import RequestUnion
from pm_actors.config import Config

logger = logging.getLogger(__name__)

SHUTDOWN_MARGIN_S = 5.0
"""Beyond the longest stop timeout: time for the last output to be committed."""
MAX_STOP_TIMEOUT_S = 3600.0


class ActorSystem:
    def __init__(self, config: Config) -> None:
        self.config = config
        connection = open_write_connection(config.database_path)  # migrated before any actor opens it
        try:
            stored = load_stored_state(connection)
            run_ids = reserved_sequence(connection, "runs", lambda: self._writer)
            process_ids = reserved_sequence(connection, "processes", lambda: self._writer)
        finally:
            connection.close()
        self._scheduler = Scheduler()
        self._scheduler.start()
        self.events = EventHub()
        """What changed, as it happens: the push stream of subscribed clients reads it."""
        retention = RetentionPolicy.from_config(config)
        self._writer: pykka.ActorRef[Any] = LogWriterActor.start(
            config.database_path,
            retention,
            self._scheduler,
            self.events.errors_changed,
            config.error_tracking,
        )
        self._reads = ReadBudget(config.query_timeout_ms / 1000)
        self._reader: pykka.ActorRef[Any] = LogReaderActor.start(
            config.database_path, self._writer, self._reads
        )
        board = RecordBoard(self.events)
        become_subreaper()  # orphans below our children come to us, to be stopped with their run
        executables = ExecutablePolicy(config)
        self._health: pykka.ActorRef[Any] = HealthActor.start(self._scheduler, self._writer, executables)
        self._metrics: pykka.ActorRef[Any] = MetricsActor.start(self._scheduler, config.database_path.parent)
        self._waiter: pykka.ActorRef[Any] = WaitActor.start(
            config.database_path, self._scheduler, board, self._metrics, self._reads
        )
        self._pipe_reader = PipeReader(self._writer, self.events.output_committed)
        self._pipe_reader.start()
        self._keeper = KeeperLink.from_environment()
        self._next_settings: dict[str, str] | None = None
        adoptions = Adoptions(self._keeper, self._pipe_reader)
        # Started before the supervisor, which forwards group requests to it; it tells the
        # supervisor only after such a request, when the supervisor is there.
        self._groups: pykka.ActorRef[Any] = GroupActor.start(
            self._tell_supervisor, self._writer, board, stored.groups
        )
        context = ProcessContext(
            config=config,
            executables=executables,
            writer=self._writer,
            health=self._health,
            metrics=self._metrics,
            pipe_reader=self._pipe_reader,
            scheduler=self._scheduler,
            run_ids=run_ids,
            process_ids=process_ids,
            board=board,
            markers=RunMarkers(_database_identity(config.database_path)),
            events=self.events,
            keeper=self._keeper,
            adoptions=adoptions,
        )
        self._supervisor: pykka.ActorRef[Any] = SupervisorActor.start(
            config, context, self._reader, self._waiter, self._groups, stored
        )
        logger.info("actor system started on %s", config.database_path)

    def submit(self, request: RequestUnion) -> concurrent.futures.Future[Any]:
        reply: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._supervisor.tell(Call(request, reply))
        return reply

    def _tell_supervisor(self, message: object) -> None:
        self._supervisor.tell(message)

    def hand_over_settings(self, settings: dict[str, str] | None) -> None:
        """The PM_* settings the next daemon should run with (None: this one's)."""
        self._next_settings = settings

    @property
    def kept(self) -> bool:
        """Whether a keeper keeps the processes running across a crash or restart of this daemon."""
        return self._keeper.attached

    def shutdown(self, keep_processes: bool = False) -> None:
        """Stop every child in parallel, then every part; all output is committed first. Groups
        stop first, so that no group starts a member once the processes are being stopped; reads
        under way are interrupted at once: nobody is left to read their answers.

        With `keep_processes` (a keeper holds them: see `kept`), the children run on and every
        line read is still committed; the keeper starts the next daemon, which adopts them."""
        self._groups.stop(block=True)
        self._reads.stop()
        if not keep_processes:
            self._stop_every_process()
        self._supervisor.stop(block=True)
        if not keep_processes:
            kill_adopted()  # what no run claimed (it left its session and cleared its environment)
        self._pipe_reader.stop()
        for actor in (self._waiter, self._health, self._metrics, self._reader):
            actor.stop(block=True)
        self._writer.stop(block=True)
        self._scheduler.stop()
        become_subreaper(False)
        if keep_processes:
            self._keeper.restart(self._next_settings)
        else:
            self._keeper.stop()
        logger.info("actor system stopped%s", ", its processes left running" if keep_processes else "")

    def _stop_every_process(self) -> None:
        replies: list[concurrent.futures.Future[Any]] = self._supervisor.ask(StopAll(), block=True)
        done, not_done = concurrent.futures.wait(replies, timeout=MAX_STOP_TIMEOUT_S + SHUTDOWN_MARGIN_S)
        for reply in done:
            if reply.exception() is not None:
                logger.error("stopping a process at shutdown failed: %s", reply.exception())
        if not_done:
            logger.error("%d processes did not report stopped at shutdown", len(not_done))


def _database_identity(path: Path) -> str:
    """The database file's device and inode: unique on this machine while the file lives."""
    status = os.stat(path)
    return f"{status.st_dev:x}.{status.st_ino:x}"
