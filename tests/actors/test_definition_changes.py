from __future__ import annotations

import msgspec

from pm_actors.actors.definition_changes import effective_limits, with_configuration, with_restart_changes
from pm_actors.api import ConfigureProcess, RestartProcess
from pm_actors.config import load_config
from pm_actors.definition import ProcessDefinition
from pm_actors.specs import Limits, TcpCheck

DEFINITION = ProcessDefinition(
    name="web", command="node", executable="/usr/bin/node", args=["a.js"], cwd="/", env={"A": "1"}
)


def test_a_restart_reports_only_the_fields_it_really_changed() -> None:
    same, unchanged = with_restart_changes(DEFINITION, RestartProcess(name="web", args=["a.js"]))
    assert (same, unchanged) == (DEFINITION, [])
    changed, names = with_restart_changes(
        DEFINITION, RestartProcess(name="web", args=["b.js"], env={"A": "2"})
    )
    assert names == ["args", "env"] and changed.args == ["b.js"] and changed.env == {"A": "2"}


def test_configuration_keeps_omitted_settings_and_can_remove_the_health_check() -> None:
    check = TcpCheck(port=8080)
    configured, names = with_configuration(DEFINITION, ConfigureProcess(name="web", health_check=check))
    assert names == ["health_check"] and configured.health_check == check and configured.args == ["a.js"]
    removed, names = with_configuration(configured, ConfigureProcess(name="web", remove_health_check=True))
    assert names == ["health_check"] and removed.health_check is None


def test_configuration_reports_only_the_settings_whose_value_changed() -> None:
    same, names = with_configuration(
        DEFINITION, ConfigureProcess(name="web", restart="never", max_restarts=3)
    )
    assert names == ["max_restarts"] and same.max_restarts == 3
    _, nothing = with_configuration(DEFINITION, ConfigureProcess(name="web", remove_health_check=True))
    assert nothing == []


def test_without_limits_of_its_own_a_process_gets_the_global_ones() -> None:
    config = load_config({"HOME": "/h", "PM_MAX_MEMORY_MB": "256", "PM_MAX_CPU_PERCENT": "90"})
    assert effective_limits(DEFINITION, config) == Limits(max_memory_mb=256, max_cpu_percent=90)
    own = Limits(max_memory_mb=64)
    assert effective_limits(msgspec.structs.replace(DEFINITION, limits=own), config) == own
