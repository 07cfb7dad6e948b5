"""The daemon's socket server: listens, and gives each client a `Connection`.

It runs on one asyncio event loop (stdlib only). A Unix socket is made 0600 before it listens,
in a directory created 0700; a socket file left by a dead daemon is replaced, a live one never
taken over. `close()` ends every connection and removes the socket file if it is still ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import stat
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from pm_actors import __version__
from pm_actors.config import MAX_UNIX_SOCKET_PATH_BYTES, Config, ConfigError
from pm_actors.errors import AlreadyRunning, DaemonUnavailable, InternalError

from .auth import PRIVATE_FILE_MODE, ensure_private_directory
from .connection import FRAME_TIMEOUT_S, HELLO_TIMEOUT_S, IDLE_TIMEOUT_S, Connection, ServerContext, Submit
from .protocol import PROTOCOL_VERSION, Welcome
from .subscriptions import EventSource

logger = logging.getLogger(__name__)

STALE_SOCKET_PROBE_TIMEOUT_S = 1.0
"""A live daemon accepts at once; a socket file that nobody answers on within this is stale."""


class IpcServer:
    """Listens on the configured Unix socket (or loopback TCP port) for clients.

    `start()` returns once the socket listens; `close()` stops accepting, ends every
    connection and removes the socket file."""

    def __init__(
        self,
        config: Config,
        token: str,
        submit: Submit,
        *,
        events: EventSource | None = None,
        kept: bool = False,
        hello_timeout_s: float = HELLO_TIMEOUT_S,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        frame_timeout_s: float = FRAME_TIMEOUT_S,
    ) -> None:
        self._config = config
        welcome = Welcome(
            protocol_version=PROTOCOL_VERSION,
            daemon_pid=os.getpid(),
            server_version=__version__,
            settings=config.daemon_settings(),
            kept=kept,
            interpreter=sys.executable,
        )
        self._context = ServerContext(
            token=token,
            token_path=config.token_path,
            submit=submit,
            welcome=welcome,
            hello_timeout_s=hello_timeout_s,
            idle_timeout_s=idle_timeout_s,
            frame_timeout_s=frame_timeout_s,
            rate_limit=config.rate_limit,
            spawn=self._spawn,
            events=events,
        )
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._socket_identity: tuple[int, int] | None = None
        self.address = ""
        """Where clients reach us, for log lines: the socket path or host:port."""
        self.tcp_port: int | None = None
        """The TCP port actually bound (the configured one, or the kernel's pick for port 0)."""

    @property
    def listening(self) -> bool:
        return self._server is not None and self._server.is_serving()

    async def start(self) -> None:
        """Bind and listen. A Unix socket is 0600 before it listens, in a private directory."""
        if self._server is not None:
            raise InternalError("the IPC server is already started")
        if self._config.daemon_transport == "unix":
            self._server = await self._start_unix()
        else:
            self._server = await self._start_tcp()
        logger.info("listening on %s", self.address)

    async def close(self) -> None:
        """Stop accepting, end every connection (in-flight requests are cancelled), remove the
        socket file if it is still ours."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await server.wait_closed()
        self._remove_own_socket()
        logger.info("stopped listening on %s", self.address)

    async def _start_unix(self) -> asyncio.Server:
        path = self._config.daemon_socket_path
        check_socket_path_length(path)
        ensure_private_directory(path.parent)
        await _remove_stale_socket(path)
        listener = _bind_private_unix_socket(path)
        status = path.stat()
        self._socket_identity = (status.st_dev, status.st_ino)
        self.address = str(path)
        try:
            return await asyncio.start_unix_server(self._accept, sock=listener)
        except BaseException:
            listener.close()
            self._remove_own_socket()
            raise

    async def _start_tcp(self) -> asyncio.Server:
        host, port = self._config.daemon_tcp_bind, self._config.daemon_tcp_port
        try:
            server = await asyncio.start_server(self._accept, host=host, port=port)
        except OSError as error:
            raise DaemonUnavailable(f"cannot listen on {host}:{port}: {error.strerror}") from None
        self.tcp_port = int(server.sockets[0].getsockname()[1])
        self.address = f"{host}:{self.tcp_port}"
        return server

    def _remove_own_socket(self) -> None:
        """Unlink the socket file unless another daemon has replaced it since we bound it."""
        if self._socket_identity is None:
            return
        path = self._config.daemon_socket_path
        with contextlib.suppress(FileNotFoundError):
            status = path.lstat()
            if (status.st_dev, status.st_ino) == self._socket_identity:
                path.unlink()
        self._socket_identity = None

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run `work` in a task that `close()` will cancel."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Called by asyncio for each new connection: serve it in a task of ours, which
        `close()` may cancel (cancelling the task asyncio itself runs for a connection makes
        Python 3.11's streams log a spurious error)."""
        if self._server is None:  # accepted while closing
            writer.close()
            return
        self._spawn(Connection(reader, writer, self._context).serve())


def check_socket_path_length(path: Path) -> None:
    """Refuse a path the kernel would truncate: binding it would put the socket elsewhere."""
    length = len(os.fsencode(path))
    if length > MAX_UNIX_SOCKET_PATH_BYTES:
        raise ConfigError(
            f"PM_DAEMON_SOCKET_PATH={str(path)!r} is {length} bytes long, over the Unix socket limit of "
            f"{MAX_UNIX_SOCKET_PATH_BYTES}: choose a shorter path"
        )


async def _remove_stale_socket(path: Path) -> None:
    """Remove a socket file left by a dead daemon; refuse to take over a live one, or a file
    that is not a socket at all."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise ConfigError(
            f"PM_DAEMON_SOCKET_PATH={str(path)!r} exists and is not a socket: "
            "remove it or choose another path"
        )
    if await _socket_answers(path):
        raise AlreadyRunning(f"another daemon is already listening on {path}")
    logger.info("removing the stale socket %s left by a daemon that is gone", path)
    path.unlink(missing_ok=True)


async def _socket_answers(path: Path) -> bool:
    try:
        async with asyncio.timeout(STALE_SOCKET_PROBE_TIMEOUT_S):
            _reader, writer = await asyncio.open_unix_connection(os.fspath(path))
    except (ConnectionRefusedError, FileNotFoundError):
        return False
    except TimeoutError:
        return True  # something holds it, only slowly: never take it over
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
    return True


def _bind_private_unix_socket(path: Path) -> socket.socket:
    """A bound, not yet listening socket at `path`, made 0600 first: until listen() nobody can
    connect, so there is no moment when the socket is open to others."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(os.fspath(path))
        os.chmod(path, PRIVATE_FILE_MODE)
    except OSError as error:
        listener.close()
        raise DaemonUnavailable(f"cannot listen on {path}: {error.strerror}") from None
    return listener
