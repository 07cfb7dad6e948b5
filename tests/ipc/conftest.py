from __future__ import annotations

from collections.abc import Iterator

import pytest

from pm_actors.config import Config
from tests.ipc.support import FakeActors, make_config


@pytest.fixture
def actors() -> Iterator[FakeActors]:
    fake = FakeActors()
    try:
        yield fake
    finally:
        fake.close()


@pytest.fixture
def config(pm_environment: dict[str, str]) -> Config:
    """A config whose socket lives in a short private temp dir, with a known token."""
    return make_config(pm_environment)
