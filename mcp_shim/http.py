"""`pm-actors mcp --http`: the same MCP server over Streamable HTTP, at `http://HOST:PORT/mcp`.

The same `build_server` as stdio, so the same tools answer the same results; the SDK serves
both protocol revisions on one endpoint (a 2025-11-25 client opens a session with
`initialize`, a 2026-07-28 client sends each request with its own envelope).

Who may call it:
- On a loopback address (the default, 127.0.0.1) only programs on this machine can connect,
  and DNS-rebinding protection refuses a request whose Host is not a loopback name (421) or
  whose Origin is another site (403): a web page cannot drive it through a browser.
- On any other address, a bearer token is required: `PM_MCP_HTTP_TOKEN`, which every request
  must carry as `Authorization: Bearer <token>` (compared in constant time; 401 otherwise),
  so that one agent can drive pm-actors on several machines, each with its own token. Without
  the variable set, pm-actors refuses to listen there. Set on loopback, it is required there too.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import os
import signal
from collections.abc import Iterator

import anyio
import uvicorn
from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from pm_actors.config import Config, ConfigError
from pm_actors.ipc.session import BackendOpener, ClientSession
from pm_actors.logging_setup import configure_logging

from .server import build_server

logger = logging.getLogger(__name__)

MCP_PATH = "/mcp"

LOOPBACK_HOSTS = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
LOOPBACK_ORIGINS = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def transport_security(host: str) -> TransportSecuritySettings:
    """Host and Origin checked on loopback; elsewhere the bearer token is the guard (the Host a
    remote client uses, a name or an address of this machine, is not known in advance)."""
    if not is_loopback(host):
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    bound = f"[{host}]:*" if ":" in host else f"{host}:*"
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=sorted({*LOOPBACK_HOSTS, bound}),
        allowed_origins=LOOPBACK_ORIGINS,
    )


class BearerToken:
    """ASGI middleware: every HTTP request must carry `Authorization: Bearer <token>`."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self._app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = Headers(scope=scope).get("authorization", "").encode()
            if not hmac.compare_digest(given, self._expected):
                refusal = PlainTextResponse(
                    "Unauthorized: send Authorization: Bearer <PM_MCP_HTTP_TOKEN>",
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="pm-actors"'},
                )
                await refusal(scope, receive, send)
                return
        await self._app(scope, receive, send)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """SIGINT and SIGTERM shut the server down gracefully, and then `serve_http` closes the
        backend (in-process, that stops every child and stores its output). uvicorn's own
        version raises the signal again once the server is down, which would kill the process
        before that."""
        previous = {number: signal.signal(number, self.handle_exit) for number in STOP_SIGNALS}
        try:
            yield
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def run_http(config: Config, open_backend: BackendOpener, host: str, port: int) -> None:
    """Serve MCP over HTTP until SIGINT or SIGTERM. Raises ConfigError for a non-loopback
    address without a token."""
    configure_logging(config)
    if not is_loopback(host) and config.mcp_http_token is None:
        raise ConfigError(
            f"serving MCP on {host}, which is not a loopback address, needs a bearer token: set "
            "PM_MCP_HTTP_TOKEN (at least 16 characters) here and in the client's Authorization header"
        )
    anyio.run(serve_http, open_backend, os.getcwd(), host, port, config.mcp_http_token)


async def serve_http(
    open_backend: BackendOpener, working_directory: str, host: str, port: int, token: str | None
) -> None:
    backend = ClientSession(open_backend, working_directory)
    try:
        await backend.try_connect()
        server = build_server(backend)
        app: ASGIApp = server.streamable_http_app(
            streamable_http_path=MCP_PATH, host=host, transport_security=transport_security(host)
        )
        if token is not None:
            app = BearerToken(app, token)
        settings = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, lifespan="on")
        logger.info("serving MCP at http://%s:%d%s", host, port, MCP_PATH)
        await _Server(settings).serve()
    finally:
        with anyio.CancelScope(shield=True):
            await backend.close()
