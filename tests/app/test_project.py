"""`pm-actors up` and `down` with a real project file, a real daemon and real children."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from pm_actors.api import ListProcesses
from pm_actors.app.project import load_project
from pm_actors.config import ConfigError
from pm_actors.states import ProcessState
from tests.daemon_support import Daemon, run_cli
from tests.helpers import PYTHON

STACK = f"""
name = "shop"

[processes.db]
command = "{PYTHON}"
args = ["-u", "-c", "import time; print('db ready'); time.sleep(600)"]
ready = {{ until = "log_line", pattern = "db ready" }}

[processes.api]
command = "{PYTHON}"
args = ["-u", "-c", "import time; time.sleep(0.2); print('api ready'); time.sleep(600)"]
ready = {{ until = "log_line", pattern = "api ready" }}
stop_timeout_s = 2
"""


def pm(daemon: Daemon, directory: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return run_cli(daemon.environment, directory, *arguments)


def pids(daemon: Daemon) -> dict[str, int | None]:
    return {record.name: record.pid for record in daemon.call(ListProcesses()).processes}


@pytest.mark.timeout(90)
def test_up_starts_the_stack_in_order_again_changes_only_what_changed_and_down_stops_it(
    daemon: Daemon, short_tmp: Path
) -> None:
    project = short_tmp / "shop"
    project.mkdir()
    (project / "pm-actors.toml").write_text(STACK)

    first = pm(daemon, project, "up")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "group shop started" in first.stdout
    before = pids(daemon)
    assert all(before.values()) and set(before) == {"db", "api"}
    assert daemon.call(ListProcesses()).processes[0].cwd == str(project)

    again = pm(daemon, project, "up")
    assert again.returncode == 0 and pids(daemon) == before, "nothing changed: nothing restarted"

    (project / "pm-actors.toml").write_text(STACK.replace("stop_timeout_s = 2", "stop_timeout_s = 3"))
    changed = pm(daemon, project, "up")
    assert changed.returncode == 0 and "api: stop_timeout_s changed; restarting it" in changed.stdout
    after = pids(daemon)
    assert after["db"] == before["db"] and after["api"] != before["api"]

    down = pm(daemon, project, "down")
    assert down.returncode == 0
    assert {record.state for record in daemon.call(ListProcesses()).processes} == {ProcessState.STOPPED}


@pytest.mark.timeout(60)
def test_a_bad_project_file_is_one_message_naming_the_line_and_the_key(
    daemon: Daemon, short_tmp: Path
) -> None:
    bad = STACK.replace("stop_timeout_s = 2", 'stop_timeout_s = "soon"')
    (short_tmp / "pm-actors.toml").write_text(bad)
    result = pm(daemon, short_tmp, "up")
    line = bad.splitlines().index('stop_timeout_s = "soon"') + 1
    assert result.returncode == 2
    where = f"{short_tmp / 'pm-actors.toml'}:{line}"
    assert (
        result.stderr.strip()
        == f"pm-actors: {where}: processes.api.stop_timeout_s: expected `float`, got `str`"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[processes.web]\ncommand = 'x'\nrestrt = 'always'\n", ":3: processes.web.restrt: unknown key"),
        ("colour = 'blue'\n", ":1: colour: unknown key"),
        ("[processes.web]\nargs = []\n", ":1: processes.web: expected a command"),
        (
            "[settings]\nALLOWED = '/usr/bin'\n",
            ":2: settings.ALLOWED: unknown setting; known: PM_ALLOWED_COMMANDS, ",
        ),
        ("[processes.web\n", "not valid TOML"),
    ],
)
def test_each_kind_of_mistake_is_named(short_tmp: Path, text: str, message: str) -> None:
    path = short_tmp / "pm-actors.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_project(path)
    assert message in str(raised.value)


def test_a_relative_cwd_is_relative_to_the_file_and_settings_become_strings(short_tmp: Path) -> None:
    path = short_tmp / "pm-actors.toml"
    path.write_text(
        textwrap.dedent(
            """
            [settings]
            PM_ALLOWED_COMMANDS = ["/usr/bin", "/opt/tools"]
            PM_AUTO_RESTART_ENABLED = false

            [processes.web]
            command = "/usr/bin/true"
            cwd = "web"
            """
        )
    )
    project = load_project(path)
    assert project.name == short_tmp.name
    assert project.members[0].cwd == str(short_tmp / "web")
    assert project.settings == {
        "PM_ALLOWED_COMMANDS": "/usr/bin,/opt/tools",
        "PM_AUTO_RESTART_ENABLED": "false",
    }


@pytest.mark.timeout(90)
def test_group_commands_create_start_list_stop_and_delete(daemon: Daemon, short_tmp: Path) -> None:
    (short_tmp / "pm-actors.toml").write_text(STACK)
    assert pm(daemon, short_tmp, "up", "db").returncode == 0  # declares both, starts db alone
    assert {name for name, pid in pids(daemon).items() if pid} == {"db"}

    assert pm(daemon, short_tmp, "group", "create", "pair", "db", "api").returncode == 0
    started = pm(daemon, short_tmp, "group", "start", "pair")
    assert started.returncode == 0 and "group pair started" in started.stdout
    listed = pm(daemon, short_tmp, "group", "ls", "pair")
    assert "group pair: running, 2 members" in listed.stdout
    assert pm(daemon, short_tmp, "group", "stop", "pair").returncode == 0
    assert pm(daemon, short_tmp, "group", "delete", "pair").returncode == 0
    missing = pm(daemon, short_tmp, "group", "start", "pair")
    assert missing.returncode == 1 and "not_found" in missing.stderr
    assert pm(daemon, short_tmp, "group", "add", "shop").returncode == 2


ORDERED = f"""
name = "ordered"

[processes.early]
command = "{PYTHON}"
args = ["-c", "import time; time.sleep(600)"]
order = 5

[processes.late]
command = "{PYTHON}"
args = ["-c", "import time; time.sleep(600)"]
"""
"""`late` declares no order: one more than the highest before it (6), as in a group, not 0."""


@pytest.mark.timeout(60)
def test_up_of_named_members_starts_them_in_the_group_s_order(daemon: Daemon, short_tmp: Path) -> None:
    (short_tmp / "pm-actors.toml").write_text(ORDERED)
    started = pm(daemon, short_tmp, "up", "late", "early")
    assert started.returncode == 0, started.stderr
    assert started.stdout.index("early: running") < started.stdout.index("late: running")
