"""In-process backend: the actor system inside the caller (`PM_DAEMON_MODE=disabled`).

The same `ActorSystem` the daemon runs, behind the same `Backend` interface as the socket
client; the processes it starts die with the caller. It holds the database's single-instance
lock like a daemon, so it never shares a database with another owner. Its events come from the
same hub, coalesced the way a socket connection's are.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from pm_actors.actors.events import HubSubscription
from pm_actors.actors.system import ActorSystem
from pm_actors.api import RequestUnion, Topic
from pm_actors.app.instance_lock import single_instance_lock
from pm_actors.config import Config
from pm_actors.ipc.session import EventListener
from pm_actors.ipc.subscriptions import TopicBatcher


class InProcessBackend:
    def __init__(self, system: ActorSystem, lock: contextlib.ExitStack) -> None:
        self._system = system
        self._lock = lock
        self._subscription: HubSubscription | None = None
        self._listener: EventListener | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = asyncio.Event()

    @classmethod
    def start(cls, config: Config) -> InProcessBackend:
        """Raises DatabaseInUse if a daemon or another in-process shim owns the database."""
        with contextlib.ExitStack() as lock:
            lock.enter_context(single_instance_lock(config.lock_path))
            system = ActorSystem(config)
            return cls(system, lock.pop_all())

    async def call(self, request: RequestUnion) -> Any:
        return await asyncio.wrap_future(self._system.submit(request))

    async def subscribe(self, topics: frozenset[Topic], listener: EventListener) -> None:
        self._listener = listener
        if self._subscription is None:
            batcher = TopicBatcher(self._deliver)
            self._subscription = self._system.events.subscribe(batcher.notify)
            self._tasks.append(asyncio.get_running_loop().create_task(batcher.run()))
        self._subscription.set_topics(topics)

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def close(self) -> None:
        if self._subscription is not None:
            self._subscription.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.to_thread(self._system.shutdown)
        self._lock.close()
        self._closed.set()

    async def _deliver(self, topics: list[Topic]) -> None:
        if self._listener is not None:
            self._listener(topics)
