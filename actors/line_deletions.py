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

from pm_actors.actors.base import answer, fail
from pm_actors.actors.log_writes import LineUsage
from pm_actors.actors.messages import Reply
from pm_actors.actors.retention import rows_older_than, rows_to_trim
from pm_actors.errors import PmError

DELETE_CHUNK_ROWS = 2_000
"""Indexed rows deleted per transaction: ~15 ms (FTS5 is told each line again), the longest
that new lines wait behind a deletion."""
UNINDEXED_CHUNK_ROWS = 20_000
"""Rows not indexed yet deleted per transaction: a plain delete, about as fast as the insert,
so a trim keeps pace with a flood (the writer flushes up to 10,000 new lines at a time)."""


def chunk_rows(first_id: int, indexed_up_to: int) -> int:
    """How many rows a chunk beginning at `first_id` may hold."""
    return DELETE_CHUNK_ROWS if first_id <= indexed_up_to else UNINDEXED_CHUNK_ROWS


@dataclass(frozen=True)
class Chunk:
    where: str
    args: tuple[object, ...]


@dataclass
class ClientDeletion:
    """clear_logs or delete_process: the matching lines stored when it was asked (ids up to
    `up_to_id`); `reply` gets how many went once the last chunk is committed."""

    process_id: int | None
    before_ts: float | None
    up_to_id: int
    reply: Reply
    after_id: int = 0
    deleted: int = 0

    def next_chunk(
        self, connection: apsw.Connection, usage: Mapping[int, LineUsage], indexed_up_to: int
    ) -> Chunk | None:
        if self.after_id >= self.up_to_id:
            return None
        where, args = self._condition(self.up_to_id)
        # The id that ends a full chunk; past the last match the rest of the range is one chunk.
        rows = chunk_rows(self.after_id + 1, indexed_up_to)
        end = connection.execute(
            f"SELECT id FROM logs WHERE {where} ORDER BY id LIMIT 1 OFFSET ?", (*args, rows - 1)
        ).fetchone()
        end_id = self.up_to_id if end is None else int(end[0])
        chunk = Chunk(*self._condition(end_id))
        self.after_id = end_id
        return chunk

    def on_deleted(self, lines: int) -> None:
        self.deleted += lines

    def finish(self, error: PmError | None) -> None:
        if error is None:
            answer(self.reply, self.deleted)
        else:
            fail(self.reply, type(error)(f"{error.message}; {self.deleted} lines had been deleted"))

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

    def next_chunk(
        self, connection: apsw.Connection, usage: Mapping[int, LineUsage], indexed_up_to: int
    ) -> Chunk | None:
        lines, chars = usage.get(self.process_id, (0, 0))
        count = rows_to_trim(lines, chars, self.target_chars)
        oldest = connection.execute("SELECT min(id) FROM logs WHERE process_id = ?", (self.process_id,)).get
        if count == 0 or oldest is None:
            return None
        count = min(count, chunk_rows(int(str(oldest)), indexed_up_to))
        last = connection.execute(
            "SELECT id FROM logs WHERE process_id = ? ORDER BY id LIMIT 1 OFFSET ?",
            (self.process_id, count - 1),
        ).get
        return Chunk("process_id = ? AND id <= ?", (self.process_id, last))

    def on_deleted(self, lines: int) -> None:
        """Nothing to count: the writer's usage figures are what the next chunk is decided on."""

    def finish(self, error: PmError | None) -> None:
        """Nobody waits for a trim; an error was logged where it happened."""


@dataclass
class AgeTrim:
    """Lines stamped before `cutoff` go, oldest first."""

    cutoff: float

    def next_chunk(
        self, connection: apsw.Connection, usage: Mapping[int, LineUsage], indexed_up_to: int
    ) -> Chunk | None:
        oldest = connection.execute("SELECT min(id) FROM logs").get
        if oldest is None:
            return None
        rows = cast(
            list[tuple[int, float]],
            connection.execute(
                "SELECT id, ts FROM logs ORDER BY id LIMIT ?", (chunk_rows(int(str(oldest)), indexed_up_to),)
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
