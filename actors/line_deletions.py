"""Deleting stored lines in chunks: what a client asked for, and what retention trims.

A deletion of many indexed lines costs about what indexing them did (FTS5 is told each line's
text again), so the LogWriterActor deletes one chunk per turn and handles the messages that
arrived meanwhile in between: a flood is never held up for long behind a clear_logs or a trim.
Each job here says which rows its next chunk holds, as a SQL condition, or None when it is done.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

import apsw

from pm_actors.actors.delivery import settle
from pm_actors.actors.log_writes import LineUsage
from pm_actors.actors.messages import Reply
from pm_actors.actors.retention import rows_covering, rows_older_than
from pm_actors.errors import PmError

DELETE_CHUNK_ROWS = 2_000
"""Rows deleted per transaction: ~15 ms when they are indexed, the longest that new lines wait
behind a deletion. Rows not indexed yet go several times faster."""


@dataclass(frozen=True)
class Chunk:
    where: str
    args: tuple[object, ...]


@dataclass
class ClientDeletion:
    """clear_logs or delete_process: the matching lines stored when it was asked (ids up to
    `up_to_id`); `done` gets how many went once the last chunk is committed."""

    process_id: int | None
    before_ts: float | None
    up_to_id: int
    done: Reply
    after_id: int = 0
    deleted: int = 0

    def next_chunk(self, connection: apsw.Connection, usage: Mapping[int, LineUsage]) -> Chunk | None:
        if self.after_id >= self.up_to_id:
            return None
        where, args = self._condition(self.up_to_id)
        # The id that ends a full chunk; past the last match the rest of the range is one chunk.
        end = connection.execute(
            f"SELECT id FROM logs WHERE {where} ORDER BY id LIMIT 1 OFFSET ?", (*args, DELETE_CHUNK_ROWS - 1)
        ).fetchone()
        end_id = self.up_to_id if end is None else int(end[0])
        chunk = Chunk(*self._condition(end_id))
        self.after_id = end_id
        return chunk

    def on_deleted(self, lines: int) -> None:
        self.deleted += lines

    def finish(self, error: PmError | None) -> None:
        if error is None:
            settle(self.done, self.deleted)
        else:
            settle(self.done, None, type(error)(f"{error.message}; {self.deleted} lines had been deleted"))

    def _condition(self, end_id: int) -> tuple[str, tuple[object, ...]]:
        clauses: list[str] = ["id > ?", "id <= ?"]
        args: list[object] = [self.after_id, end_id]
        if self.process_id is not None:
            clauses.append("process_id = ?")
            args.append(self.process_id)
        if self.before_ts is not None:
            clauses.append("ts < ?")
            args.append(self.before_ts)
        return " AND ".join(clauses), tuple(args)


@dataclass
class SizeTrim:
    """A process over its size limit loses its oldest lines until its text is `target_chars`."""

    process_id: int
    target_chars: int

    def next_chunk(self, connection: apsw.Connection, usage: Mapping[int, LineUsage]) -> Chunk | None:
        excess = usage.get(self.process_id, (0, 0))[1] - self.target_chars
        if excess <= 0:
            return None
        rows = cast(
            list[tuple[int, int]],
            connection.execute(
                "SELECT id, length(line) FROM logs WHERE process_id = ? ORDER BY id LIMIT ?",
                (self.process_id, DELETE_CHUNK_ROWS),
            ).fetchall(),
        )
        if not rows:
            return None
        last_id = rows[rows_covering([size for _, size in rows], excess) - 1][0]
        return Chunk("process_id = ? AND id <= ?", (self.process_id, last_id))

    def on_deleted(self, lines: int) -> None:
        """Nothing to count: the writer's usage figures are what the next chunk is decided on."""

    def finish(self, error: PmError | None) -> None:
        """Nobody waits for a trim; an error was logged where it happened."""


@dataclass
class AgeTrim:
    """Lines stamped before `cutoff` go, oldest first."""

    cutoff: float

    def next_chunk(self, connection: apsw.Connection, usage: Mapping[int, LineUsage]) -> Chunk | None:
        rows = cast(
            list[tuple[int, float]],
            connection.execute(
                "SELECT id, ts FROM logs ORDER BY id LIMIT ?", (DELETE_CHUNK_ROWS,)
            ).fetchall(),
        )
        count = rows_older_than([ts for _, ts in rows], self.cutoff)
        if count == 0:
            return None
        return Chunk("id <= ?", (rows[count - 1][0],))

    def on_deleted(self, lines: int) -> None:
        """Nothing to count: nobody waits for a trim."""

    def finish(self, error: PmError | None) -> None:
        """Nobody waits for a trim; an error was logged where it happened."""


Job = ClientDeletion | SizeTrim | AgeTrim
