"""The one client session every front end uses: the MCP shim and the CLI alike.

A `Backend` carries requests to the actors, wherever they run: `DaemonClient` over the
socket, or the in-process actor system (`PM_DAEMON_MODE=disabled`). `ClientSession` wraps the
backend a front end opened and adds what every front end needs: it fills in what only the
caller knows (its working directory, the default `cwd` of `start_process`), connects on first
use, and connects again after the daemon went away, retrying an idempotent request once. A
subscription to the daemon's events is kept the same way: sent again on every new connection,
and a lost connection is opened again in the background while anyone is subscribed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import msgspec

from pm_actors.api import RequestUnion, StartProcess, Topic
from pm_actors.errors import DaemonUnavailable, PmError
from pm_actors.group_requests import AddToGroup, CreateGroup
from pm_actors.specs import ProcessSpec

from .client import ConnectionClosed
from .client import EventListener as EventListener  # a Backend subscribes with one

logger = logging.getLogger(__name__)

RESUBSCRIBE_RETRY_S = 1.0
"""While the daemon cannot be reached, how often a subscribed session tries again: soon enough
that updates resume within a second of a restarted daemon, rarely enough to cost nothing."""


class Backend(Protocol):
    async def call(self, request: RequestUnion) -> Any:
        """Carry out one request; return its result struct (`type(request).result_type`)."""
        ...

    async def subscribe(self, topics: frozenset[Topic], listener: EventListener) -> None:
        """Tell `listener` from now on which of `topics` changed (replacing an earlier set)."""
        ...

    async def wait_closed(self) -> None:
        """Return once the backend is gone (its connection lost or closed)."""
        ...

    async def close(self) -> None: ...


BackendOpener = Callable[[], Awaitable[Backend]]
SpecT = TypeVar("SpecT", bound=ProcessSpec)


class ClientSession:
    """A `Backend` that opens the real one, and opens it again on the next call after a failure.

    Attempts never overlap: calls that arrive while one is under way wait for it, so a burst of
    calls cannot start a burst of daemons. A connection that breaks later (the daemon was
    restarted, or closed an idle connection) is dropped, so the next call connects again,
    starting a daemon if need be. A request that was never sent (the connection had ended
    before it) is sent on the new connection; one that was in flight when the connection broke
    is retried only if idempotent, since it may have taken effect.
    """

    def __init__(self, open_backend: BackendOpener, working_directory: str) -> None:
        self._open_backend = open_backend
        self._working_directory = working_directory
        self._backend: Backend | None = None
        self._lock = asyncio.Lock()
        self._topics: frozenset[Topic] = frozenset()
        self._listener: EventListener = _nobody
        self._topics_changed = asyncio.Event()
        self._settled = asyncio.Event()
        self._settled.set()
        self._keeper: asyncio.Task[None] | None = None

    async def try_connect(self) -> None:
        """Connect now if possible; a failure is only logged, and the next call retries."""
        try:
            await self._connected()
        except PmError as error:
            logger.warning(
                "backend unavailable at start (%s); serving anyway, each call will report this and try again",
                error.message,
            )

    async def call(self, request: RequestUnion) -> Any:
        request = with_caller_defaults(request, self._working_directory)
        backend = await self._connected()
        try:
            return await backend.call(request)
        except DaemonUnavailable as error:
            await self._discard(backend)
            if not isinstance(error, ConnectionClosed) and not type(request).annotations.idempotent:
                raise
        logger.info("the daemon connection broke; retrying %s on a new one", type(request).__name__)
        return await (await self._connected()).call(request)

    def subscribe(self, topics: frozenset[Topic], listener: EventListener) -> None:
        """Have `listener` told which of `topics` changed, on this connection and every later
        one; an empty set ends the subscription. Returns at once: a task keeps it, and
        `subscribed()` says when it holds."""
        self._topics, self._listener = topics, listener
        self._topics_changed.set()
        keeping = self._keeper is not None and not self._keeper.done()
        if keeping or topics:
            self._settled.clear()
        if topics and not keeping:
            self._keeper = asyncio.get_running_loop().create_task(self._keep_subscribed())

    async def subscribed(self) -> None:
        """Return once the latest topics are in force on the backend, or the attempt failed
        (the backend is away: they are sent again once it is back), so that a subscriber is
        told "subscribed" only when no change can slip past."""
        await self._settled.wait()

    async def _keep_subscribed(self) -> None:
        """Send the topics on the current connection, again on each new one, until unsubscribed."""
        while self._topics:
            try:
                backend = await self._connected()
                await self._follow(backend)
                await self._discard(backend)
            except PmError as error:
                logger.debug("cannot subscribe to the daemon's events now: %s", error.message)
                self._settled.set()
            if self._topics:
                await asyncio.sleep(RESUBSCRIBE_RETRY_S)

    async def _follow(self, backend: Backend) -> None:
        """Keep `backend` subscribed to the current topics until it is gone."""
        closed = asyncio.ensure_future(backend.wait_closed())
        try:
            while not closed.done():
                self._topics_changed.clear()
                await backend.subscribe(self._topics, self._listener)
                if not self._topics_changed.is_set():
                    self._settled.set()
                changed = asyncio.ensure_future(self._topics_changed.wait())
                await asyncio.wait([closed, changed], return_when=asyncio.FIRST_COMPLETED)
                changed.cancel()
        finally:
            closed.cancel()

    async def close(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            await asyncio.gather(self._keeper, return_exceptions=True)
            self._settled.set()
        if self._backend is not None:
            backend, self._backend = self._backend, None
            await backend.close()

    async def _discard(self, broken: Backend) -> None:
        async with self._lock:
            if self._backend is broken:
                self._backend = None
        with contextlib.suppress(PmError):
            await broken.close()

    async def _connected(self) -> Backend:
        async with self._lock:
            if self._backend is None:
                self._backend = await self._open_backend()
            return self._backend


def _nobody(topics: list[Topic]) -> None:
    """The listener before anyone subscribed."""


def with_caller_defaults(request: RequestUnion, working_directory: str) -> RequestUnion:
    """Fill in what only the caller knows: a process declared (by start_process, or inline in a
    group) starts, by default, where its caller works.

    This is the one place the working directory is decided; the daemon runs elsewhere (in `/`)
    and never guesses it. A start of the stored definition (no `command`) keeps the stored one."""
    if isinstance(request, StartProcess):
        return _declared_where(request, working_directory)
    if isinstance(request, CreateGroup | AddToGroup):
        members = [_declared_where(member, working_directory) for member in request.members]
        return msgspec.structs.replace(request, members=members)
    return request


def _declared_where(spec: SpecT, working_directory: str) -> SpecT:
    if spec.command is None:
        return spec
    return msgspec.structs.replace(spec, cwd=resolve_cwd(spec.cwd, working_directory))


def resolve_cwd(cwd: str | None, working_directory: str) -> str:
    """`cwd` made absolute against the caller's working directory (the default when absent).

    A relative path must be anchored where the client meant it. `~` is expanded because no
    shell will ever do it. Not normalised: `link/..` is not lexically reducible when `link` is
    a symlink.
    """
    if not cwd:
        return working_directory
    return os.path.join(working_directory, os.path.expanduser(cwd))
