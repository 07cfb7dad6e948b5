"""Fixtures shared by the tests of the actors: a real SQLite file, a read connection beside the
writer, a running scheduler thread, and no actor left running after a test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import apsw
import pykka
import pytest

from pm_actors.actors.scheduler import Scheduler
from pm_actors.actors.store import open_read_connection, open_write_connection
from tests.actors.system_client import SystemClient, running_system


@pytest.fixture(autouse=True)
def stop_every_actor() -> Iterator[None]:
    yield
    pykka.ActorRegistry.stop_all()


@pytest.fixture
def database(short_tmp: Path) -> Path:
    path = short_tmp / "pm.db"
    open_write_connection(path).close()  # created (and migrated) before any reader opens it read-only
    return path


@pytest.fixture
def reader(database: Path) -> Iterator[apsw.Connection]:
    connection = open_read_connection(database)
    yield connection
    connection.close()


@pytest.fixture
def scheduler() -> Iterator[Scheduler]:
    timers = Scheduler()
    timers.start()
    yield timers
    timers.stop()


@pytest.fixture
def client(pm_environment: dict[str, str]) -> Iterator[SystemClient]:
    """A running actor system with its own database, shut down (every child stopped) after the test."""
    with running_system(pm_environment) as client:
        yield client
