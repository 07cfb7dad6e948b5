"""The LogReaderActor: answers log reads (pages of lines, the newest lines, searches) and
error reads (get_errors, get_latest_errors).

It answers `ReadLogs` and `ReadErrors` messages: before each read it asks the writer to flush,
so a client sees every line the daemon had received when it asked (and, for errors, every
error in them that detection could reach within a short budget), then it hands the read to a
lane of workers with their own read-only connections (`read_lanes`), where `LogQueries` or
`ErrorQueries` runs it within its time budget (`read_budget`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import apsw
import pykka

from pm_actors.actors.base import DaemonActor
from pm_actors.actors.incidents.queries import ErrorQueries
from pm_actors.actors.log_queries import LogQueries
from pm_actors.actors.messages import Flush, ReadErrors, ReadLogs
from pm_actors.actors.read_budget import ReadBudget
from pm_actors.actors.read_lanes import PAGE_WORKERS, SEARCH_WORKERS, ReadLane
from pm_actors.actors.time_bounds import parse_time
from pm_actors.api import GetLogs, SearchLogs, TailLogs, tool_name
from pm_actors.error_requests import GetErrors
from pm_actors.error_results import ErrorList, ErrorOverview
from pm_actors.errors import InternalError
from pm_actors.log_results import LogLines, SearchResult

SEARCH_INDEX_WAIT_S = 0.2
"""How long a words/phrase/fts5 search lets the index catch up (~40,000 lines); lines still
unindexed after it are reported in the result's `unindexed`."""
ERRORS_WAIT_S = 0.2
"""How long an error read lets detection catch up (~100,000 lines); lines still unchecked after
it are reported in the result's `unchecked_lines`."""


class LogReaderActor(DaemonActor):
    """Answers `ReadLogs`: asks the writer to flush, then runs the read on a lane
    (`read_lanes`): searches on one, pages and tails on the other, each read on a worker's
    own read-only connection (WAL) within its time budget, so this actor is free again at once."""

    may_ask = frozenset({"LogWriterActor"})

    def __init__(self, database_path: Path, writer: pykka.ActorRef[Any], budget: ReadBudget) -> None:
        """Runs in the thread that creates the actor; the lanes start in `on_start`."""
        super().__init__()
        self._database_path = database_path
        self._writer = writer
        self._budget = budget
        self._lanes: dict[bool, ReadLane] = {}

    def on_start(self) -> None:
        """Runs in the actor's thread, after the writer has created the database."""
        path, budget = self._database_path, self._budget
        self._lanes = {
            True: ReadLane(path, SEARCH_WORKERS, "pm-search", budget, self.failure_of),
            False: ReadLane(path, PAGE_WORKERS, "pm-read", budget, self.failure_of),
        }

    def on_stop(self) -> None:
        """Runs in the actor's thread after its last message: reads under way end first."""
        for lane in self._lanes.values():
            lane.close()
        super().on_stop()

    def handle(self, message: Any) -> Any:
        """Runs in the actor's thread, one ReadLogs or ReadErrors at a time."""
        what = tool_name(type(message.request))
        if isinstance(message, ReadErrors):
            self.ask(self._writer, Flush(index_budget_s=0.0, classify_budget_s=ERRORS_WAIT_S))
            self._lanes[False].submit(
                message.reply, what, lambda connection: answer_errors(connection, message)
            )
            return None
        if not isinstance(message, ReadLogs):
            raise InternalError(f"the log reader cannot handle {type(message).__name__}")
        # The writer may hold lines received before this read: they must be in the answer.
        self.ask(self._writer, Flush(index_budget_s=_index_budget(message.request)))
        search = isinstance(message.request, SearchLogs)
        self._lanes[search].submit(message.reply, what, lambda connection: answer_read(connection, message))
        return None


def answer_read(connection: apsw.Connection, message: ReadLogs) -> LogLines | SearchResult:
    """The result of one log read, on `connection` (a lane worker's)."""
    queries = LogQueries(connection)
    request = message.request
    if isinstance(request, SearchLogs):
        return queries.search(request, message.process_id, time.time())
    if message.process_id is None:
        raise InternalError(f"{type(request).__name__} reached the log reader without a process id")
    if isinstance(request, GetLogs):
        return queries.get_logs(request, message.process_id)
    if isinstance(request, TailLogs):
        return queries.tail_logs(request, message.process_id, time.time())
    raise InternalError(f"the log reader cannot answer {type(request).__name__}")


def answer_errors(connection: apsw.Connection, message: ReadErrors) -> ErrorList | ErrorOverview:
    """The result of one error read, on `connection` (a lane worker's)."""
    queries, request = ErrorQueries(connection), message.request
    if not isinstance(request, GetErrors):
        return queries.latest(request.limit)
    since = None if request.since is None else parse_time(request.since, time.time(), "since")
    return queries.get_errors(
        message.process_id, request.category, request.resolved, since, request.limit, request.after_id
    )


def _index_budget(request: GetLogs | TailLogs | SearchLogs) -> float:
    """How long the writer may index before this read: only an indexed search needs it."""
    if isinstance(request, SearchLogs) and request.mode not in ("substring", "regex"):
        return SEARCH_INDEX_WAIT_S
    return 0.0
