"""The LogReaderActor: answers log reads (pages of lines, the newest lines, searches).

It owns a read-only connection (WAL lets it read beside the writer) and answers `ReadLogs`
messages with `LogQueries`; before each read it asks the writer to flush, so a client sees
every line the daemon had received when it asked.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import apsw
import pykka

from pm_actors.actors.delivery import settle
from pm_actors.actors.log_queries import LogQueries
from pm_actors.actors.messages import Flush, ReadLogs
from pm_actors.actors.store import open_read_connection
from pm_actors.api import GetLogs, SearchLogs, TailLogs
from pm_actors.errors import InternalError, PmError
from pm_actors.log_results import LogLines, SearchResult

logger = logging.getLogger(__name__)

FLUSH_TIMEOUT_S = 30.0
"""Far above a flush of 10,000 lines (~0.1 s): reaching it means the writer is stuck."""
SEARCH_INDEX_WAIT_S = 0.2
"""How long a words/phrase/fts5 search lets the index catch up (~40,000 lines); lines still
unindexed after it are reported in the result's `unindexed`."""


class LogReaderActor(pykka.ThreadingActor):
    """Answers `ReadLogs` on its own read-only connection, beside the writer (WAL)."""

    def __init__(self, database_path: Path, writer: pykka.ActorRef[Any]) -> None:
        """Runs in the thread that creates the actor; the connection is opened in `on_start`."""
        super().__init__()
        self._database_path = database_path
        self._writer = writer
        self._connection: apsw.Connection | None = None
        self._queries: LogQueries | None = None

    def on_start(self) -> None:
        """Runs in the actor's thread, after the writer has created the database."""
        self._connection = open_read_connection(self._database_path)
        self._queries = LogQueries(self._connection)

    def on_stop(self) -> None:
        """Runs in the actor's thread after its last message."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None
            self._queries = None

    def on_receive(self, message: Any) -> Any:
        """Runs in the actor's thread. Every ReadLogs gets an answer: a caller never hangs."""
        if not isinstance(message, ReadLogs):
            return super().on_receive(message)
        try:
            # The writer may hold lines received before this read: they must be in the answer.
            self._writer.ask(Flush(index_budget_s=_index_budget(message.request)), timeout=FLUSH_TIMEOUT_S)
            result = self._answer(message)
        except PmError as error:
            settle(message.reply, None, error)
        except Exception as error:
            logger.exception("log read %r failed", message.request)
            settle(message.reply, None, InternalError(f"reading the logs failed: {error!r}"))
        else:
            settle(message.reply, result)
        return None

    def _answer(self, message: ReadLogs) -> LogLines | SearchResult:
        queries = self._queries
        if queries is None:
            raise InternalError("the log reader has no open database")
        request = message.request
        if isinstance(request, SearchLogs):
            return queries.search(request, message.process_id, time.time())
        if message.process_id is None:
            raise InternalError(f"{type(request).__name__} reached the log reader without a process id")
        if isinstance(request, GetLogs):
            return queries.get_logs(request, message.process_id)
        if isinstance(request, TailLogs):
            return queries.tail_logs(request, message.process_id)
        raise InternalError(f"the log reader cannot answer {type(request).__name__}")


def _index_budget(request: GetLogs | TailLogs | SearchLogs) -> float:
    """How long the writer may index before this read: only an indexed search needs it."""
    if isinstance(request, SearchLogs) and request.mode not in ("substring", "regex"):
        return SEARCH_INDEX_WAIT_S
    return 0.0
