"""Stored output stays right across deletes and daemon restarts: real daemons, children, SQLite.

The sequence that broke it (ids handed out again after a delete and a restart, below the
index's high-water mark): new lines never indexed, deletes that failed while reported done,
a deleted definition back after a restart.
"""

from __future__ import annotations

import pytest

from pm_actors.api import DeleteProcess, GetProcessInfo, ListProcesses, SearchLogs, StartProcess, TailLogs
from pm_actors.results import ProcessRecord
from pm_actors.states import ProcessState
from tests.daemon_support import Daemon, DaemonLauncher, SyncClient, all_lines
from tests.helpers import python_child, wait_until
from tests.log_store_support import check_index_matches_rows

PRINT_2000 = "for number in range(2000): print('p1 line', number)"


def run_to_the_end(client: SyncClient, name: str, code: str) -> ProcessRecord:
    command, args = python_child(code)
    client.call(StartProcess(name=name, command=command, args=args, cwd="/"))
    record: ProcessRecord = wait_until(
        lambda: next(
            (
                r
                for r in client.call(ListProcesses()).processes
                if r.name == name and r.state is ProcessState.EXITED
            ),
            None,
        ),
        timeout=20,
        message=f"{name} to exit",
    )
    return record


def line_ids(client: SyncClient, name: str) -> list[int]:
    return [line.id for line in client.call(TailLogs(name=name, limit=10_000, max_chars=1_000_000)).lines]


def search_texts(client: SyncClient, query: str, mode: str = "words") -> tuple[list[str], int]:
    result = client.call(SearchLogs(query=query, mode=mode))  # type: ignore[arg-type]
    return [match.text for match in result.matches], result.unindexed


def restart(daemon: Daemon, daemons: DaemonLauncher) -> Daemon:
    assert daemon.terminate() == 0
    return daemons.start()


@pytest.mark.timeout(120)
def test_the_sequence_that_broke_the_index_now_finds_deletes_and_keeps_what_it_says(
    daemons: DaemonLauncher,
) -> None:
    daemon = daemons.start()
    with daemon.client() as client:
        first = run_to_the_end(client, "p1", PRINT_2000)
        p1_ids = line_ids(client, "p1")
        assert len(p1_ids) == 2000
        assert client.call(DeleteProcess(name="p1")).lines_deleted == 2000

    daemon = restart(daemon, daemons)
    with daemon.client() as client:
        second = run_to_the_end(client, "p2", "print('hello world')")
        [hello_id] = line_ids(client, "p2")
        assert hello_id > max(p1_ids) and (second.run_id or 0) > (first.run_id or 0)
        assert search_texts(client, "hello") == (["hello world"], 0)
        assert search_texts(client, "hello", "substring") == (["hello world"], 0)
        check_index_matches_rows(daemon.config.database_path)

        assert client.call(DeleteProcess(name="p2")).lines_deleted == 1
        assert search_texts(client, "hello", "substring") == ([], 0)
        check_index_matches_rows(daemon.config.database_path)

        run_to_the_end(client, "p2", "print('second life')")
        assert all_lines(client, "p2") == ["second life"]

    daemon = restart(daemon, daemons)
    with daemon.client() as client:
        info = client.call(GetProcessInfo(name="p2"))
        assert info.args[-1] == "print('second life')" and info.state is ProcessState.EXITED
        assert all_lines(client, "p2") == ["second life"]
        assert search_texts(client, "life") == (["second life"], 0)
    assert "UNIQUE constraint" not in daemon.log_text() and "lost " not in daemon.log_text()


@pytest.mark.timeout(120)
def test_no_id_is_handed_out_again_after_a_daemon_is_killed(daemons: DaemonLauncher) -> None:
    daemon = daemons.start()
    with daemon.client() as client:
        first = run_to_the_end(client, "job", "print('before the crash')")
        [first_line] = line_ids(client, "job")
        client.call(DeleteProcess(name="job"))
    daemon.kill()  # no shutdown: whatever it had not stored is lost, and nothing else may be

    daemon = daemons.start()
    with daemon.client() as client:
        second = run_to_the_end(client, "job", "print('after the crash')")
        [second_line] = line_ids(client, "job")
    assert second_line > first_line and (second.run_id or 0) > (first.run_id or 0)
    check_index_matches_rows(daemon.config.database_path)
