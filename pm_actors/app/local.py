"""In-process backend: the actor system inside the caller (`PM_DAEMON_MODE=disabled`).

The same `ActorSystem` the daemon runs, behind the same `Backend` interface as the socket
client; the processes it starts die with the caller. It holds the database's single-instance
lock like a daemon, so it never shares a database with another owner.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from pm_actors.actors.system import ActorSystem
from pm_actors.api import RequestUnion
from pm_actors.app.instance_lock import single_instance_lock
from pm_actors.config import Config


class InProcessBackend:
    def __init__(self, system: ActorSystem, lock: contextlib.ExitStack) -> None:
        self._system = system
        self._lock = lock

    @classmethod
    def start(cls, config: Config) -> InProcessBackend:
        """Raises DatabaseInUse if a daemon or another in-process shim owns the database."""
        with contextlib.ExitStack() as lock:
            lock.enter_context(single_instance_lock(config.lock_path))
            system = ActorSystem(config)
            return cls(system, lock.pop_all())

    async def call(self, request: RequestUnion) -> Any:
        return await asyncio.wrap_future(self._system.submit(request))

    async def close(self) -> None:
        await asyncio.to_thread(self._system.shutdown)
        self._lock.close()
