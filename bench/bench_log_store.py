"""Log store figures: LogWriterActor ingestion and search on a 1M-line database.

Run: /tmp/venv/bin/python bench/bench_log_store.py [--lines N]

Prints rows/s of the LogWriterActor ingesting LogBatches (FTS5-indexed, in its own transactions),
against baselines measured in the same run: plain executemany of the same rows into the same
table without the index and without the actor, and the same with the writer's FTS5 insert.
Then, on the database the writer built, the median (p50) time of searches in each mode through
`LogQueries`, and of one search through the LogReaderActor (which first asks the writer to
flush). Targets (bench/README.md): >= 150,000 lines/s FTS-indexed; on 1M rows,
word/phrase p50 <= 5 ms and substring <= 150 ms.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import itertools
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pykka

from pm_actors.actors.log_queries import LogQueries
from pm_actors.actors.log_reader import LogReaderActor
from pm_actors.actors.log_writer import LogWriterActor
from pm_actors.actors.messages import STDERR, STDOUT, Flush, LineChunk, LogBatch, ReadLogs, SaveDefinition
from pm_actors.actors.read_budget import ReadBudget
from pm_actors.actors.retention import RetentionPolicy
from pm_actors.actors.store import open_read_connection, open_write_connection
from pm_actors.api import SearchLogs
from pm_actors.definition import ProcessDefinition
from pm_actors.request_base import SearchMode

BATCH_LINES = 1000
"""Lines per LogBatch, about what the IO thread hands over from a chatty child."""
SEARCH_RUNS = 21
SUBSTRING_RUNS = 11
PROCESSES = 4
WORDS = ("alpha", "beta", "gamma", "delta", "cache", "queue", "upstream", "session")
KEEP_EVERYTHING = RetentionPolicy(max_age_s=365 * 86_400.0, max_chars_per_process=1 << 40)

READ_BUDGET_S = 5.0
"""The daemon's default time budget of one read (PM_QUERY_TIMEOUT_MS)."""


Line = tuple[int, float, str]
"""(stream, ts, text) of one line."""


def as_chunks(lines: list[Line]) -> list[LineChunk]:
    """Consecutive lines of the same stream and time in one chunk, as the IO thread sends them."""
    return [
        (stream, ts, [text for _, _, text in group])
        for (stream, ts), group in itertools.groupby(lines, key=lambda line: (line[0], line[1]))
    ]


def make_lines(count: int) -> list[Line]:
    """Log-like lines: a few common words, numbers that repeat, ids that are unique."""
    now = time.time()
    return [
        (
            STDERR if number % 50 == 0 else STDOUT,
            now,
            f"2024-05-01T12:{number // 60 % 60:02d}:{number % 60:02d} INFO worker-{number % 16} "
            f"{WORDS[number % len(WORDS)]} request id={number} path=/api/v1/items/{number % 1000} "
            f"status={500 if number % 50 == 0 else 200} took {number % 97}ms",
        )
        for number in range(count)
    ]


def ingest_with_writer(
    database: Path, lines: list[Line], retention: RetentionPolicy = KEEP_EVERYTHING
) -> tuple[float, float, pykka.ActorRef[Any]]:
    """Rows/s of the LogWriterActor from the first batch told: until the last line is committed
    (capture; the index trails it), and until a full flush has indexed every line."""
    open_write_connection(database).close()
    writer = LogWriterActor.start(database, retention)
    for process_id in range(1, PROCESSES + 1):
        definition = ProcessDefinition(
            name=f"proc-{process_id}", command="x", executable="/bin/x", args=[], cwd="/"
        )
        writer.tell(SaveDefinition(process_id, definition, time.time()))
    writer.ask(Flush())
    committed = threading.Event()
    started = time.perf_counter()
    for number, start in enumerate(range(0, len(lines), BATCH_LINES)):
        writer.tell(LogBatch(number % PROCESSES + 1, 1, as_chunks(lines[start : start + BATCH_LINES])))
    writer.tell(LogBatch(1, 1, [], on_committed=committed.set))
    committed.wait()
    stored = time.perf_counter() - started
    writer.ask(Flush())
    return len(lines) / stored, len(lines) / (time.perf_counter() - started), writer


def trimming_policy(lines: list[Line]) -> RetentionPolicy:
    """A size limit of a tenth of what each process writes: retention trims all along."""
    chars_per_process = sum(len(text) for _, _, text in lines) // PROCESSES
    return RetentionPolicy(max_age_s=365 * 86_400.0, max_chars_per_process=chars_per_process // 10)


def ingest_direct(database: Path, lines: list[Line], indexed: bool) -> float:
    """Baselines: the same rows, executemany in transactions of 10,000, no actor; with the FTS5
    insert the writer makes, or without any index."""
    connection = open_write_connection(database)
    started = time.perf_counter()
    for start in range(0, len(lines), 10_000):
        rows = [
            (start + offset + 1, 1, 1, stream, ts, text)
            for offset, (stream, ts, text) in enumerate(lines[start : start + 10_000])
        ]
        with connection:
            connection.executemany(
                "INSERT INTO logs(id, process_id, run_id, stream, ts, line) VALUES(?,?,?,?,?,?)", rows
            )
            if indexed:
                connection.execute(
                    "INSERT INTO logs_fts(rowid, line) SELECT id, line FROM logs WHERE id BETWEEN ? AND ?",
                    (rows[0][0], rows[-1][0]),
                )
    elapsed = time.perf_counter() - started
    connection.close()
    return len(lines) / elapsed


def median_ms(action: Callable[[], Any], runs: int) -> tuple[float, Any]:
    timings = []
    result = None
    for _ in range(runs):
        started = time.perf_counter()
        result = action()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000, result


def search_figures(database: Path, line_count: int) -> None:
    connection = open_read_connection(database)
    queries = LogQueries(connection)
    rare = str(line_count * 7 // 9)
    cases: list[tuple[str, SearchMode, int | None, int]] = [
        (rare, "words", None, SEARCH_RUNS),
        (f"request {rare}", "words", None, SEARCH_RUNS),
        ("upstream request", "words", 2, SEARCH_RUNS),
        ("status 500", "phrase", None, SEARCH_RUNS),
        (f"id={rare} ", "substring", None, SUBSTRING_RUNS),
        ("status=500 took 3ms", "substring", None, SUBSTRING_RUNS),
        ("text that is never printed", "substring", None, SUBSTRING_RUNS),
    ]
    print(f"search p50 on {line_count:,} rows (limit 100, through LogQueries):")
    for query, mode, process_id, runs in cases:
        search = functools.partial(
            queries.search, SearchLogs(query=query, mode=mode), process_id, time.time()
        )
        elapsed, result = median_ms(search, runs)
        scope = f"process {process_id}" if process_id else "all processes"
        print(f"  {mode:<9} {query!r:<30} {scope:<13} {elapsed:8.2f} ms  ({len(result.matches)} matches)")
    connection.close()


def reader_actor_figure(database: Path, writer: pykka.ActorRef[Any], line_count: int) -> None:
    reader = LogReaderActor.start(database, writer, ReadBudget(READ_BUDGET_S))
    request = SearchLogs(query=str(line_count * 7 // 9), mode="words")

    def search() -> Any:
        reply: concurrent.futures.Future[Any] = concurrent.futures.Future()
        reader.tell(ReadLogs(request, None, reply))
        return reply.result(timeout=10)

    elapsed, _ = median_ms(search, SEARCH_RUNS)
    print(f"  words via LogReaderActor (flush ask + query + reply) {elapsed:8.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    arguments = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="pmbench", dir="/tmp"))
    try:
        lines = make_lines(arguments.lines)
        baseline = ingest_direct(folder / "plain.db", lines, indexed=False)
        direct_fts = ingest_direct(folder / "direct.db", lines, indexed=True)
        stored_rate, rate, writer = ingest_with_writer(folder / "logs.db", lines)
        print(f"ingestion of {len(lines):,} lines in LogBatches of {BATCH_LINES:,}:")
        print(f"  LogWriterActor, all committed       {stored_rate:11,.0f} rows/s (index trailing)")
        print(f"  LogWriterActor, FTS5-indexed       {rate:12,.0f} rows/s")
        print(f"  baseline: executemany, no FTS/actor {baseline:11,.0f} rows/s")
        print(f"  ratio writer / baseline             {rate / baseline:11.2f}")
        print(f"  executemany + FTS5, no actor        {direct_fts:11,.0f} rows/s")
        print(f"  ratio writer / that (actor cost)    {rate / direct_fts:11.2f}")
        trimmed_rate, _, trimming = ingest_with_writer(folder / "trimmed.db", lines, trimming_policy(lines))
        trimming.stop(block=True)
        print(f"  LogWriterActor, committed, trimming to a tenth per process {trimmed_rate:11,.0f} rows/s")
        print(f"  ratio trimming / not                {trimmed_rate / stored_rate:11.2f}")
        search_figures(folder / "logs.db", len(lines))
        reader_actor_figure(folder / "logs.db", writer, len(lines))
    finally:
        pykka.ActorRegistry.stop_all()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
