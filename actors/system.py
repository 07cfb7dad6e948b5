"""The actor system: every part of the daemon, wired together, started and stopped in order.

The daemon and the in-process backend both run exactly this. `submit()` is the one way in:
it hands a public request to the supervisor and returns a `concurrent.futures.Future` that
resolves to the result struct or fails with a `PmError`.

Start order: database (migrated) -> LogWriterActor -> LogReaderActor -> scheduler thread ->
HealthActor, MetricsActor, WaitActor -> IO thread -> SupervisorActor (which restores the
stored definitions). Shutdown runs it backwards, after stopping every child in parallel and
so storing all their output.
"""

from __future__ import annotations

import concurrent.futures
import logging
from typing import Any

import pykka

from pm_actors.actors.events import EventHub
from pm_actors.actors.health import HealthActor
from pm_actors.actors.log_reader import LogReaderActor
from pm_actors.actors.log_writer import LogWriterActor
from pm_actors.actors.messages import Call, StopAll
from pm_actors.actors.metrics import MetricsActor
from pm_actors.actors.pipe_reader import PipeReader
from pm_actors.actors.records import IdAllocator, RecordBoard
from pm_actors.actors.run import ProcessContext
from pm_actors.actors.scheduler import Scheduler
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
        connection = open_write_connection(config.database_path)
        try:
            stored = load_stored_state(connection)
        finally:
            connection.close()
        self._writer: pykka.ActorRef[Any] = LogWriterActor.start(config.database_path, stored.next_log_id)
        self._reader: pykka.ActorRef[Any] = LogReaderActor.start(config.database_path, self._writer)
        self._scheduler = Scheduler()
        self._scheduler.start()
        self.events = EventHub()
        """What changed, as it happens: the push stream of subscribed clients reads it."""
        board = RecordBoard(self.events)
        self._health: pykka.ActorRef[Any] = HealthActor.start(self._scheduler, self._writer)
        self._metrics: pykka.ActorRef[Any] = MetricsActor.start(self._scheduler, config.database_path.parent)
        self._waiter: pykka.ActorRef[Any] = WaitActor.start(
            config.database_path, self._scheduler, board, self._metrics
        )
        self._pipe_reader = PipeReader(self._writer, self.events.output_committed)
        self._pipe_reader.start()
        context = ProcessContext(
            config=config,
            writer=self._writer,
            health=self._health,
            metrics=self._metrics,
            pipe_reader=self._pipe_reader,
            scheduler=self._scheduler,
            run_ids=IdAllocator(stored.next_run_id),
            board=board,
            events=self.events,
        )
        self._supervisor: pykka.ActorRef[Any] = SupervisorActor.start(
            config, context, self._reader, self._waiter, stored
        )
        logger.info("actor system started on %s", config.database_path)

    def submit(self, request: RequestUnion) -> concurrent.futures.Future[Any]:
        reply: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._supervisor.tell(Call(request, reply))
        return reply

    def shutdown(self) -> None:
        """Stop every child in parallel, then every part; all output is committed first."""
        replies: list[concurrent.futures.Future[Any]] = self._supervisor.ask(StopAll(), block=True)
        done, not_done = concurrent.futures.wait(replies, timeout=MAX_STOP_TIMEOUT_S + SHUTDOWN_MARGIN_S)
        for reply in done:
            if reply.exception() is not None:
                logger.error("stopping a process at shutdown failed: %s", reply.exception())
        if not_done:
            logger.error("%d processes did not report stopped at shutdown", len(not_done))
        self._supervisor.stop(block=True)
        self._pipe_reader.stop()
        for actor in (self._waiter, self._health, self._metrics, self._reader):
            actor.stop(block=True)
        self._writer.stop(block=True)
        self._scheduler.stop()
        logger.info("actor system stopped")
