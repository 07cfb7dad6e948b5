"""The clients this shim may notify on its own: handshake-era (2025-11-25) connections.

Such a connection lives as long as its client (the one stdio client, or one HTTP session), and
the server may send it notifications at any time: resource updates it subscribed to, list
changes, log messages at the level it chose. Each is noted on its first request, by a server
middleware, and forgotten when it closes. Connections of the 2026-07-28 revision are never
noted: each of their requests is a connection of its own, and change notifications reach them
only on a `subscriptions/listen` stream (`subscriptions.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from mcp.server.connection import Connection
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp_types import LoggingLevel
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

DEFAULT_LOG_LEVEL: LoggingLevel = "warning"
"""What a client gets before it sends logging/setLevel: what it should know about (the daemon
could not be reached, a call failed unexpectedly), not the shim's chatter."""

PEER_STATE_KEY = "pm-actors/peer"


@dataclass(eq=False)
class Peer:
    connection: Connection
    log_level: LoggingLevel = DEFAULT_LOG_LEVEL
    resources: set[str] = field(default_factory=set)
    """URIs this client subscribed to with resources/subscribe."""


class Peers:
    """The live handshake-era connections, in the order they came."""

    def __init__(self) -> None:
        self._peers: list[Peer] = []
        self.on_leave: Callable[[], None] = lambda: None
        """Called when a peer that had subscriptions is gone."""

    def __iter__(self) -> Iterator[Peer]:
        return iter(list(self._peers))

    def of(self, ctx: ServerRequestContext[Any, Any]) -> Peer | None:
        """The peer a request came from; None for a 2026-07-28 request, which has none."""
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            return None
        # The SDK hands handlers a per-request proxy and no public handle on its connection;
        # the connection is what outlives the request and tells us, by its exit stack, when
        # the client is gone.
        connection: Connection = ctx.session._connection
        peer = connection.state.get(PEER_STATE_KEY)
        if isinstance(peer, Peer):
            return peer
        peer = Peer(connection)
        connection.state[PEER_STATE_KEY] = peer
        connection.exit_stack.callback(self._forget, peer)
        self._peers.append(peer)
        return peer

    async def middleware(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        """Notes the connection of every handshake-era request (a `ServerMiddleware`)."""
        self.of(ctx)
        return await call_next(ctx)

    def _forget(self, peer: Peer) -> None:
        self._peers.remove(peer)
        if peer.resources:
            self.on_leave()
