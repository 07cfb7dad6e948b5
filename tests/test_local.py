from __future__ import annotations

import asyncio

import pytest

from pm_actors.api import ListProcesses
from pm_actors.app.instance_lock import DatabaseInUse
from pm_actors.app.local import InProcessBackend
from pm_actors.config import load_config


@pytest.mark.timeout(30)
def test_an_in_process_backend_owns_its_database_like_a_daemon(pm_environment: dict[str, str]) -> None:
    config = load_config(pm_environment | {"PM_DAEMON_MODE": "disabled"})
    first = InProcessBackend.start(config)
    try:
        with pytest.raises(DatabaseInUse, match="already runs on this database"):
            InProcessBackend.start(config)
        assert asyncio.run(first.call(ListProcesses())).processes == []
    finally:
        asyncio.run(first.close())
    second = InProcessBackend.start(config)
    asyncio.run(second.close())
