"""MCP logging: what the shim logs also reaches each client, as `notifications/message`.

Without it a client sees only "server disconnected" or a failed call, while the reason (the
daemon could not be started, a connection broke and was opened again) sits in the shim's
stderr where neither the model nor most people look. Records of the `pm_actors` loggers are
forwarded to every handshake-era client at or above the level it chose with
`logging/setLevel` (warning until it does); records below PM_LOG_LEVEL are never made at all.

Records may come from any thread (in-process mode runs the actors here too): `emit` only
queues them on the event loop, and one task sends them, so a logging call never waits for a
client. The queue is bounded; what does not fit is counted and reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Any, Final

import mcp_types as types
from mcp.server.context import ServerRequestContext

from .peers import Peers

LEVELS: Final[tuple[types.LoggingLevel, ...]] = (
    "debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"
)  # fmt: skip
"""MCP's levels, least severe first."""

MAX_QUEUED_RECORDS = 200
"""Records waiting to be sent: a burst of debug lines must not grow the shim's memory; past
this, records are counted as dropped and the count is sent with the next one."""

LOGGER_NAME = "pm_actors"


def mcp_level(levelno: int) -> types.LoggingLevel:
    if levelno >= logging.CRITICAL:
        return "critical"
    if levelno >= logging.ERROR:
        return "error"
    if levelno >= logging.WARNING:
        return "warning"
    return "info" if levelno >= logging.INFO else "debug"


def at_least(level: types.LoggingLevel, threshold: types.LoggingLevel) -> bool:
    return LEVELS.index(level) >= LEVELS.index(threshold)


class ClientLog(logging.Handler):
    """Installed on the `pm_actors` logger while the server runs (`forwarding`)."""

    def __init__(self, peers: Peers) -> None:
        super().__init__(logging.DEBUG)
        self._peers = peers
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: deque[tuple[types.LoggingLevel, str, str]] = deque()
        self._dropped = 0
        self._ready = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        """Any thread: hand the record to the event loop; never block, never raise."""
        loop = self._loop
        if loop is None:
            return
        entry = (mcp_level(record.levelno), record.name, record.getMessage())
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(self._enqueue, entry)

    async def set_level(
        self, ctx: ServerRequestContext[Any, Any], params: types.SetLevelRequestParams
    ) -> types.EmptyResult:
        """The `logging/setLevel` handler: from now on, this client gets `level` and above."""
        peer = self._peers.of(ctx)
        if peer is not None:
            peer.log_level = params.level
        return types.EmptyResult()

    @contextlib.asynccontextmanager
    async def forwarding(self) -> Any:
        """Forward records to clients for as long as the server runs."""
        self._loop = asyncio.get_running_loop()
        logger = logging.getLogger(LOGGER_NAME)
        logger.addHandler(self)
        sender = asyncio.create_task(self._send_forever())
        try:
            yield
        finally:
            logger.removeHandler(self)
            self._loop = None
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)

    def _enqueue(self, entry: tuple[types.LoggingLevel, str, str]) -> None:
        if len(self._queue) >= MAX_QUEUED_RECORDS:
            self._dropped += 1
            return
        self._queue.append(entry)
        self._ready.set()

    async def _send_forever(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._queue:
                level, name, message = self._queue.popleft()
                if self._dropped:
                    message += f" ({self._dropped} earlier log records were dropped: too many at once)"
                    self._dropped = 0
                await self._send(level, name, message)

    async def _send(self, level: types.LoggingLevel, name: str, message: str) -> None:
        params = {"level": level, "logger": name, "data": message}
        for peer in self._peers:
            if at_least(level, peer.log_level):
                await peer.connection.notify("notifications/message", params)
