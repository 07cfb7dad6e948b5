"""The daemon's socket: framed msgpack over a token-authenticated Unix socket (or loopback TCP).

The daemon runs an `IpcServer`; the MCP shim and the CLI get a `DaemonClient` (the daemon's
`Backend`) from `connect_or_start`. Nothing here imports `mcp`: the daemon must not need it.
"""

from __future__ import annotations

from .auth import load_or_create_token, read_token
from .client import DaemonBackend, DaemonClient, NoDaemonListening, daemon_address
from .launcher import connect_or_start, start_daemon
from .protocol import MAX_FRAME_BYTES, PROTOCOL_VERSION
from .server import IpcServer

__all__ = [
    "MAX_FRAME_BYTES",
    "PROTOCOL_VERSION",
    "DaemonBackend",
    "DaemonClient",
    "IpcServer",
    "NoDaemonListening",
    "connect_or_start",
    "daemon_address",
    "load_or_create_token",
    "read_token",
    "start_daemon",
]
