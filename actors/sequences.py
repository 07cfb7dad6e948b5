"""Run and process ids, handed out without waiting on the database and never twice.

Each `IdSequence` hands out ids from a block reserved in the database's `id_sequences` table
(the first block at start-up, synchronously). When half of a block is used, the next one is
reserved by telling the LogWriterActor, whose messages are written in the order received: the
reservation is told before any message carrying an id of the new block, so it is stored
first. A daemon that dies leaves the rest of its block unused; the next one begins above it.
Line ids need none of this: the writer hands them out itself and advances their sequence in
the transaction that stores the lines.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import apsw
import pykka

from pm_actors.actors.messages import ReserveIds, SequenceName
from pm_actors.actors.store import reserve_ids

ID_BLOCK = 100
"""Ids reserved at a time: a restart skips at most this many, and a new block is reserved
(one tiny write) once per fifty starts."""


class IdSequence:
    """Increasing ids of one sequence, safe to take from any thread."""

    def __init__(
        self,
        name: SequenceName,
        first: int,
        reserve: Callable[[SequenceName, int], None],
        block: int = ID_BLOCK,
    ) -> None:
        """`[first, first + block)` is already reserved; `reserve(name, up_to)` stores that
        every id below `up_to` is taken."""
        self._name = name
        self._next = first
        self._reserved_up_to = first + block
        self._reserve = reserve
        self._block = block
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            taken = self._next
            self._next += 1
            if self._reserved_up_to - self._next < self._block // 2:
                self._reserved_up_to += self._block
                # Under the lock: no id of the new block is handed out before this is told.
                self._reserve(self._name, self._reserved_up_to)
            return taken


def reserved_sequence(
    connection: apsw.Connection, name: SequenceName, writer: Callable[[], pykka.ActorRef[Any]]
) -> IdSequence:
    """A sequence whose first block is reserved now (on `connection`, at start-up) and whose next
    blocks are reserved through the writer (`writer()`: it may be started after this)."""
    first = reserve_ids(connection, name, ID_BLOCK)
    return IdSequence(name, first, lambda sequence, up_to: writer().tell(ReserveIds(sequence, up_to)))
