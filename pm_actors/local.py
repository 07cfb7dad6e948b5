"""In-process backend: the actor system inside the caller (`PM_DAEMON_MODE=disabled`).

The same `ActorSystem` the daemon runs, behind the same `Backend` interface as the socket
client; the processes it starts die with the caller.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pm_actors.actors.system import ActorSystem
from pm_actors.api import RequestUnion
from pm_actors.config import Config


class InProcessBackend:
    def __init__(self, system: ActorSystem) -> None:
        self._system = system

    @classmethod
    def start(cls, config: Config) -> InProcessBackend:
        return cls(ActorSystem(config))

    async def call(self, request: RequestUnion) -> Any:
        return await asyncio.wrap_future(self._system.submit(request))

    async def close(self) -> None:
        await asyncio.to_thread(self._system.shutdown)
