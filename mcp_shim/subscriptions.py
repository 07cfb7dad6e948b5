"""Resource subscriptions, in both protocol revisions, fed by the daemon's event stream.

A 2025-11-25 client subscribes with `resources/subscribe` on its connection; a 2026-07-28
client opens a `subscriptions/listen` stream naming the URIs (the SDK's `ListenHandler` serves
it from a `SubscriptionBus`). Either way the shim turns the URIs into daemon topics (the
resource registry says which), subscribes its one backend session to their union, and when
the daemon reports topics that changed, sends `notifications/resources/updated` for each
subscribed URI they concern and `notifications/resources/list_changed` when processes came
or went. The daemon already coalesces (one event frame per 100 ms at most); the notices go
out from one task, so a burst of events becomes at most one notice per URI per frame.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator, Iterable
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.subscriptions import (
    InMemorySubscriptionBus,
    ListenHandler,
    ResourcesListChanged,
    ResourceUpdated,
)

from pm_actors.api import Topic
from pm_actors.ipc.session import ClientSession

from .peers import Peers
from .resources import topics_of

MEMBERSHIP = Topic("processes")
"""A process that came or went changes the resource list: followed while any client follows
resources, which is who `list_changed` goes to (a client that subscribed to at least one
resource, or a listen stream that asked for list changes)."""


def concerns(wanted: Iterable[Topic], changed: Topic) -> bool:
    """Whether a change of `changed` changes a resource that follows `wanted`."""
    return any(topic == changed or (topic.kind == changed.kind and topic.name is None) for topic in wanted)


class Subscriptions:
    def __init__(self, backend: ClientSession, peers: Peers) -> None:
        self._backend = backend
        self._peers = peers
        self._bus = InMemorySubscriptionBus()
        self._listen = ListenHandler(self._bus)
        self._listened: collections.Counter[str] = collections.Counter()
        """URIs of the open listen streams, counted: two streams may follow one URI."""
        self._list_listeners = 0
        """Open listen streams that asked for resource list changes."""
        self._changed: set[Topic] = set()
        self._ready = asyncio.Event()
        self._following: frozenset[Topic] = frozenset()
        peers.on_leave = self._follow

    # MCP handlers -------------------------------------------------------------------------------

    async def subscribe(
        self, ctx: ServerRequestContext[Any], params: types.SubscribeRequestParams
    ) -> types.EmptyResult:
        """Any URI is accepted, as a listen stream accepts it: one we do not serve never changes.
        Answered once the daemon follows it, so that no change after the answer is missed."""
        peer = self._peers.of(ctx)
        if peer is not None:
            peer.resources.add(params.uri)
            self._follow()
            await self._backend.subscribed()
        return types.EmptyResult()

    async def unsubscribe(
        self, ctx: ServerRequestContext[Any], params: types.UnsubscribeRequestParams
    ) -> types.EmptyResult:
        peer = self._peers.of(ctx)
        if peer is not None:
            peer.resources.discard(params.uri)
            self._follow()
        return types.EmptyResult()

    async def listen(
        self, ctx: ServerRequestContext[Any], params: types.SubscriptionsListenRequestParams
    ) -> types.SubscriptionsListenResult:
        """A 2026-07-28 listen stream: its URIs are followed for as long as it is open."""
        uris = list(params.notifications.resource_subscriptions or ())
        for_list = 1 if params.notifications.resources_list_changed else 0
        self._listened.update(uris)
        self._list_listeners += for_list
        self._follow()
        await self._backend.subscribed()  # the stream's acknowledgement must mean it holds
        try:
            return await self._listen(ctx, params)
        finally:
            self._listened.subtract(uris)
            self._listened = +self._listened  # drop the zero counts
            self._list_listeners -= for_list
            self._follow()

    # The event stream ---------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Follow the daemon's events and send notices for as long as the server runs."""
        sender = asyncio.create_task(self._send_forever())
        try:
            yield
        finally:
            self._listen.close()
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)

    def _wanted_uris(self) -> set[str]:
        uris = set(self._listened)
        for peer in self._peers:
            uris |= peer.resources
        return uris

    def _follow(self) -> None:
        """Subscribe the backend session to what the subscribed URIs need (and to membership)."""
        uris = self._wanted_uris()
        topics = frozenset().union(*(topics_of(uri) for uri in uris))
        if uris or self._list_listeners:
            topics |= {MEMBERSHIP}
        if topics != self._following:
            self._following = topics
            self._backend.subscribe(topics, self._on_topics)

    def _on_topics(self, topics: list[Topic]) -> None:
        self._changed.update(topics)
        self._ready.set()

    async def _send_forever(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            changed, self._changed = self._changed, set()
            await self._notify(changed)

    async def _notify(self, changed: set[Topic]) -> None:
        came_or_went = MEMBERSHIP in changed
        updated = {
            uri for uri in self._wanted_uris() if any(concerns(topics_of(uri), topic) for topic in changed)
        }
        for peer in self._peers:
            for uri in sorted(updated & peer.resources):
                await peer.connection.send_resource_updated(uri)
            if came_or_went and peer.resources:
                await peer.connection.send_resource_list_changed()
        for uri in sorted(updated & set(self._listened)):
            await self._bus.publish(ResourceUpdated(uri=uri))
        if came_or_went:
            await self._bus.publish(ResourcesListChanged())
