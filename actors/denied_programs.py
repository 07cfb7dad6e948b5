"""The denied programs as files on this machine, so that a copy or a hard link of one is
refused whatever its name.

A deny-list of names alone is a list of names: `cp /usr/bin/dash ./tool` or `ln` makes a
shell called `tool`. So the programs the deny-list names are looked up where programs live
(the daemon's PATH, the allowed directories, the standard bin directories), and a candidate
is refused when it is one of them by inode (a hard link, or the program under a symlink of
another name) or by content (a copy: same size, then same SHA-256). Only a candidate whose
size equals a denied program's is ever hashed, and digests are cached by (device, inode,
size, mtime, ctime), so a start pays a dictionary lookup, not a hash.

What this cannot see: a modified copy (one byte appended makes another file). A directory the
managed processes can write to, allowed in PM_ALLOWED_COMMANDS, lets them write any program
they like; the README says so.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

INDEX_MAX_AGE_S = 60.0
"""How long the map of denied programs is reused before it is looked up again: a package
installed meanwhile is seen within a minute, and a start never pays the ~3 ms lookup."""
STANDARD_DIRECTORIES = ("/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin")
"""Where a system keeps its programs, searched beside the daemon's PATH and the allowed roots."""
MAX_CACHED_DIGESTS = 4096
"""Digests kept (32 bytes each, plus the key): far more executables than a machine starts."""
READ_CHUNK_BYTES = 1024 * 1024

FileKey = tuple[int, int, int, int, int]
"""(device, inode, size, mtime_ns, ctime_ns): a file's content changes only if one of these does."""


def file_key(status: os.stat_result) -> FileKey:
    return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)


@dataclass(frozen=True)
class Original:
    """A denied program found on this machine."""

    path: str
    key: FileKey


@dataclass
class DeniedIndex:
    built_at: float
    inodes: dict[tuple[int, int], Original] = field(default_factory=dict)
    by_size: dict[int, list[Original]] = field(default_factory=dict)


class DeniedPrograms:
    """Thread-safe: the supervisor, every ProcessActor and the health check workers ask it."""

    def __init__(self, names: Iterable[str], directories: Iterable[str], exempt: Iterable[Path] = ()) -> None:
        self._names = sorted(set(names))
        self._directories = _unique_real_directories(directories)
        self._exempt = {str(path) for path in exempt}
        """Realpaths allowed one by one in PM_ALLOWED_COMMANDS: the person chose them."""
        self._lock = threading.Lock()
        self._index: DeniedIndex | None = None
        self._digests: dict[FileKey, bytes] = {}

    def match(self, descriptor: int, status: os.stat_result) -> str | None:
        """What the open file `descriptor` is of the denied programs ("a hard link of /usr/bin/dash",
        "a copy of /usr/bin/dash"), or None if it is none of them."""
        with self._lock:
            index = self._current_index()
            same_inode = index.inodes.get((status.st_dev, status.st_ino))
            if same_inode is not None:
                return f"the same file as {same_inode.path}"
            originals = index.by_size.get(status.st_size, [])
            if not originals:
                return None
            digest = self._digest(file_key(status), f"/proc/self/fd/{descriptor}")
            if digest is None:
                return "unreadable, so not shown to differ from a denied program of its size"
            for original in originals:
                if self._digest(original.key, original.path) == digest:
                    return f"a copy of {original.path}"
        return None

    def _current_index(self) -> DeniedIndex:
        now = time.monotonic()
        if self._index is None or now - self._index.built_at > INDEX_MAX_AGE_S:
            self._index = self._build(now)
        return self._index

    def _build(self, now: float) -> DeniedIndex:
        index = DeniedIndex(built_at=now)
        for directory in self._directories:
            for name in self._names:
                path = os.path.join(directory, name)
                try:
                    status = os.stat(path)
                except OSError:
                    continue
                if not stat.S_ISREG(status.st_mode) or os.path.realpath(path) in self._exempt:
                    continue
                original = Original(path, file_key(status))
                if index.inodes.setdefault((status.st_dev, status.st_ino), original) is original:
                    index.by_size.setdefault(status.st_size, []).append(original)
        return index

    def _digest(self, key: FileKey, path: str) -> bytes | None:
        """SHA-256 of the file at `path` whose stat was `key`; None if it cannot be read."""
        cached = self._digests.get(key)
        if cached is not None:
            return cached
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as file:
                while chunk := file.read(READ_CHUNK_BYTES):
                    digest.update(chunk)
        except OSError:
            return None
        if len(self._digests) >= MAX_CACHED_DIGESTS:
            self._digests.clear()
        self._digests[key] = result = digest.digest()
        return result


def _unique_real_directories(directories: Iterable[str]) -> list[str]:
    unique: list[str] = []
    for directory in directories:
        with contextlib.suppress(OSError):
            real = os.path.realpath(directory)
            if os.path.isdir(real) and real not in unique:
                unique.append(real)
    return unique
