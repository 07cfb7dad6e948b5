"""Who may talk to the daemon: the shared token, private files, the peer's uid.

The token is the gate on every connection (a TCP port or a loosened directory lets others
reach the socket); the 0600 socket in a 0700 directory and the peer uid check are the walls
around it. The daemon takes PM_DAEMON_TOKEN when it is set, else a random token kept in a
0600 file beside the socket, which the shim and the CLI read.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
import secrets
import socket
import stat
import struct
from pathlib import Path

from pm_actors.config import Config
from pm_actors.errors import DaemonUnavailable, Unauthorized

logger = logging.getLogger(__name__)

TOKEN_BYTES = 32
MIN_TOKEN_LENGTH = 16
"""The shortest token `PM_DAEMON_TOKEN` accepts; a shorter token file is not ours."""

PRIVATE_DIRECTORY_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
_PEER_CREDENTIALS = struct.Struct("3i")  # struct ucred: pid, uid, gid


def ensure_private_directory(directory: Path) -> None:
    """Create `directory` (0700) if missing. An existing one is left as it is, because it may
    be a home or a shared directory the person chose; one open to others is logged."""
    if not directory.exists():
        directory.mkdir(parents=True, mode=PRIVATE_DIRECTORY_MODE, exist_ok=True)
        os.chmod(directory, PRIVATE_DIRECTORY_MODE)  # mkdir's mode is narrowed by the umask
        return
    mode = stat.S_IMODE(directory.stat().st_mode)
    if mode & 0o077:
        logger.warning(
            "%s is open to other users (mode %o); the socket and token files in it are 0600, "
            "but a private directory (chmod 700) is safer",
            directory,
            mode,
        )


def tokens_match(given: str, expected: str) -> bool:
    """Compare in constant time; bytes, because `compare_digest` refuses non-ASCII text."""
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode("utf-8"))


class _UnusableTokenFile(Exception):
    """The token file exists but must not be used; the message says why."""


def load_or_create_token(config: Config) -> str:
    """The daemon's token: PM_DAEMON_TOKEN if set, else the token file, created if missing.

    Call it while holding the single-instance lock. Even so, creation never overwrites a
    token another process has just written: the first writer wins and both read the same."""
    if config.daemon_token:
        return config.daemon_token
    path = config.token_path
    ensure_private_directory(path.parent)
    try:
        return _read_private_token(path)
    except FileNotFoundError:
        _publish_token_file(path, secrets.token_hex(TOKEN_BYTES))
    except _UnusableTokenFile as problem:
        logger.warning("%s; replacing it with a new token", problem)
        _replace_token_file(path, secrets.token_hex(TOKEN_BYTES))
    try:
        return _read_private_token(path)
    except (OSError, _UnusableTokenFile) as error:
        raise DaemonUnavailable(f"the daemon token file {path} cannot be used: {error}") from None


def read_token(config: Config) -> str:
    """The token a client presents: PM_DAEMON_TOKEN if set, else the daemon's token file."""
    if config.daemon_token:
        return config.daemon_token
    path = config.token_path
    try:
        token = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise DaemonUnavailable(
            f"no daemon token at {path}: the daemon writes it when it starts. Start the daemon "
            "with `pm-actors daemon`, or set PM_DAEMON_TOKEN to the daemon's token."
        ) from None
    except OSError as error:
        raise DaemonUnavailable(f"cannot read the daemon token file {path}: {error.strerror}") from None
    if len(token) < MIN_TOKEN_LENGTH:
        raise DaemonUnavailable(
            f"the daemon token file {path} holds no valid token: restart the daemon to write a new one"
        )
    return token


def _read_private_token(path: Path) -> str:
    """The token in the daemon's file; refused when it is not a valid token or when other
    users may read it (then it is no longer a secret)."""
    with path.open(encoding="utf-8") as file:
        mode = stat.S_IMODE(os.fstat(file.fileno()).st_mode)
        token = file.read().strip()
    if mode & 0o077:
        raise _UnusableTokenFile(f"the token file {path} is open to other users (mode {mode:o})")
    if len(token) < MIN_TOKEN_LENGTH:
        raise _UnusableTokenFile(f"the token file {path} holds no valid token")
    return token


def _write_temporary_token(directory: Path, token: str) -> Path:
    """A complete 0600 file holding `token`, beside its final place, so publishing is atomic."""
    # A name of our own with O_EXCL, as tempfile.mkstemp does (tempfile would cost the daemon
    # the memory of shutil and the compression modules it imports).
    name = directory / f".daemon.token.{secrets.token_hex(8)}"
    descriptor = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE_MODE)
    try:
        os.fchmod(descriptor, PRIVATE_FILE_MODE)
        os.write(descriptor, f"{token}\n".encode())
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    return name


def _publish_token_file(path: Path, token: str) -> None:
    """Create `path` holding `token` unless it exists: a hard link never replaces a file."""
    temporary = _write_temporary_token(path.parent, token)
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink()


def _replace_token_file(path: Path, token: str) -> None:
    temporary = _write_temporary_token(path.parent, token)
    os.replace(temporary, path)


def peer_uid(connection: socket.socket) -> int | None:
    """The uid of the process at the other end of a Unix socket, where the OS tells it."""
    if connection.family != socket.AF_UNIX or not hasattr(socket, "SO_PEERCRED"):
        return None
    with contextlib.suppress(OSError):
        credentials = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEER_CREDENTIALS.size)
        _pid, uid, _gid = _PEER_CREDENTIALS.unpack(credentials)
        return int(uid)
    return None


def check_peer_uid(connection: socket.socket, expected_uid: int) -> None:
    """Refuse a peer running as another user: the 0600 socket should have kept it out."""
    uid = peer_uid(connection)
    if uid is not None and uid != expected_uid:
        raise Unauthorized(
            f"the connecting process runs as uid {uid}; this daemon serves uid {expected_uid} only"
        )
