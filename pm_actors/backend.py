"""The one interface the MCP shim (and the CLI) talk to, wherever the actors run.

`DaemonBackend` (in `pm_actors.ipc.client`) sends each request over the socket to the daemon;
`InProcessBackend` (in `pm_actors.local`) runs the same actor system inside the caller, for
`PM_DAEMON_MODE=disabled`. Both take and return the structs of `pm_actors.api` and raise the
errors of `pm_actors.errors`, so the shim cannot tell them apart.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import Any, Protocol

from pm_actors.api import RequestUnion

Submit = Callable[[RequestUnion], concurrent.futures.Future[Any]]
"""How the daemon's socket server hands a request to the actors: the future resolves to the
result struct, or fails with a `PmError`."""


class Backend(Protocol):
    async def call(self, request: RequestUnion) -> Any:
        """Carry out one request; return its result struct (`type(request).result_type`)."""
        ...

    async def close(self) -> None: ...
