"""A blocking client session for the command line: the same `ClientSession` the MCP shim
uses (connect, auto-start, reconnect, the caller's working directory), driven from sync code.

One connection serves every call of a command; `call_all` sends several requests at once
(the socket protocol pipelines them), so `ps` with fifty processes is one round trip of
waiting, not fifty.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
from collections.abc import Coroutine, Sequence
from types import TracebackType
from typing import Any, Final, TypeVar

from pm_actors.api import RequestUnion
from pm_actors.app.backends import backend_opener
from pm_actors.config import Config
from pm_actors.errors import DaemonUnavailable, PmError
from pm_actors.ipc.session import ClientSession

T = TypeVar("T")

SPINNER_FRAMES: Final = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
SPINNER_INTERVAL_S: Final = 0.1
"""A spinner frame every tenth of a second: alive to the eye, cheap to draw."""


class Caller:
    """`with Caller(config) as caller: caller.call(request)`."""

    def __init__(self, config: Config, working_directory: str | None = None) -> None:
        if config.daemon_mode == "disabled":
            raise DaemonUnavailable(
                "the command line talks to the daemon, but PM_DAEMON_MODE=disabled runs processes inside "
                "the MCP shim only; unset PM_DAEMON_MODE to use the daemon"
            )
        self._runner = asyncio.Runner()
        self._session = ClientSession(backend_opener(config), working_directory or os.getcwd())

    def call(self, request: RequestUnion, waiting: str | None = None) -> Any:
        """Carry out one request; with `waiting`, a spinner says so on a terminal meanwhile."""
        work = self._session.call(request)
        if waiting is None or not sys.stderr.isatty():
            return self.run(work)
        return self.run(_with_spinner(work, waiting))

    def call_all(self, requests: Sequence[RequestUnion]) -> list[Any | PmError]:
        """Carry out every request at once; each result or the PmError it failed with."""

        async def every() -> list[Any | PmError]:
            calls = [self._session.call(request) for request in requests]
            outcomes = await asyncio.gather(*calls, return_exceptions=True)
            for outcome in outcomes:
                if isinstance(outcome, BaseException) and not isinstance(outcome, PmError):
                    raise outcome
            return list(outcomes)

        return self.run(every())

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return self._runner.run(work)

    @property
    def session(self) -> ClientSession:
        return self._session

    def close(self) -> None:
        try:
            self._runner.run(self._session.close())
        finally:
            self._runner.close()

    def __enter__(self) -> Caller:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


async def _with_spinner(work: Coroutine[Any, Any, T], waiting: str) -> T:
    task = asyncio.ensure_future(work)
    frames = itertools.cycle(SPINNER_FRAMES)
    try:
        while not task.done():
            sys.stderr.write(f"\r{next(frames)} {waiting}")
            sys.stderr.flush()
            await asyncio.wait({task}, timeout=SPINNER_INTERVAL_S)
        return task.result()
    finally:
        sys.stderr.write("\r\x1b[K")
        sys.stderr.flush()
        task.cancel()
