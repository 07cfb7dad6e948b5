"""Fingerprints: the same error twice is one incident counted twice, not two incidents.

What varies between repeats of one error is blanked out before hashing: UUIDs, timestamps,
hex ids and addresses, numbers (ports, pids, line numbers, sizes), quoted values and the
process's own working directory. Pure functions.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final


def _compiled(*pairs: tuple[str, str]) -> tuple[tuple[re.Pattern[str], str], ...]:
    return tuple((re.compile(pattern), replacement) for pattern, replacement in pairs)


IDS_AND_TIMES: Final = _compiled(
    (r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b", "<uuid>"),
    (r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}([.,]\d+)?)?(Z|[+-]\d{2}:?\d{2})?", "<time>"),
    (r"\b\d{2}:\d{2}:\d{2}([.,]\d+)?\b", "<time>"),
    (r"\b0x[0-9a-fA-F]+\b", "<hex>"),
    (r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b", "<hex>"),
)
"""First: a UUID or a time is blanked whole, before its digits would be one by one."""
QUOTED: Final = _compiled((r"'[^'\n]{0,200}'", "'<q>'"), (r'"[^"\n]{0,200}"', '"<q>"'))
NUMBERS_AND_SPACE: Final = _compiled((r"\d+", "<n>"), (r"\s+", " "))

FINGERPRINT_HEX_CHARS: Final = 16
"""64 bits of a SHA-1: collisions between distinct errors of one machine are out of reach."""


def normalized(text: str, working_directory: str | None = None, quotes: bool = True) -> str:
    """`text` with what varies between repeats of the same error blanked out; with `quotes`
    False, quoted text is kept (a frame's quoted file name says where, it does not vary)."""
    if working_directory and working_directory != "/":
        text = text.replace(working_directory.rstrip("/") + "/", "<cwd>/")
    for pattern, replacement in (*IDS_AND_TIMES, *(QUOTED if quotes else ()), *NUMBERS_AND_SPACE):
        text = pattern.sub(replacement, text)
    return text.strip()


def fingerprint(category: str, error_type: str | None, headline: str, top_frame: str | None, cwd: str) -> str:
    """The identity of an error: its category, type, normalised headline and the normalised
    frame nearest the failure (the same message from two places is two errors)."""
    frame = normalized(top_frame or "", cwd, quotes=False)
    parts = [category, error_type or "", normalized(headline, cwd), frame]
    digest = hashlib.sha1("\x1f".join(parts).encode("utf-8", "replace"), usedforsecurity=False)
    return digest.hexdigest()[:FINGERPRINT_HEX_CHARS]
