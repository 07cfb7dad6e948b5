"""The user's config file: settings for every command, under the project file's and the
environment's; a bad file is one message naming the line and the key."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pm_actors.app.project import Project
from pm_actors.app.user_config import settings_environment, user_config_path, user_settings
from pm_actors.config import ConfigError, load_config
from tests.daemon_support import DaemonLauncher, run_cli
from tests.helpers import PYTHON


def write_user_config(home: Path, text: str) -> Path:
    path = user_config_path({"HOME": str(home)})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_without_a_file_there_are_no_settings(short_tmp: Path) -> None:
    assert user_settings({"HOME": str(short_tmp)}) == {}


def test_the_environment_wins_over_the_project_file_which_wins_over_the_user_file(
    short_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_user_config(
        short_tmp, "[settings]\nPM_MAX_PROCESSES = 3\nPM_MAX_MEMORY_MB = 100\nPM_DEBUG = true\n"
    )
    monkeypatch.setenv("HOME", str(short_tmp))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("PM_DEBUG", "false")
    project = Project(
        path=short_tmp / "pm-actors.toml",
        name="p",
        stop_strategy="reverse",
        settings={"PM_MAX_MEMORY_MB": "200"},
        members=[],
    )

    config = load_config(settings_environment(project.settings))

    assert (config.max_processes, config.max_memory_mb, config.debug) == (3, 200, False)
    assert "PM_MAX_PROCESSES" in config.explicit, "a setting a file gives is compared with the daemon's"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[settings]\nPM_MAX_PROCESSES = 3\nPM_MAX_PROCESS = 4\n",
            ":3: settings.PM_MAX_PROCESS: unknown setting",
        ),
        ("allowed = 1\n", ":1: allowed: unknown key; the file holds one [settings] table"),
        ("[settings\n", "not valid TOML"),
    ],
)
def test_a_bad_user_config_file_names_the_line_and_the_key(short_tmp: Path, text: str, message: str) -> None:
    path = write_user_config(short_tmp, text)
    with pytest.raises(ConfigError) as raised:
        user_settings({"HOME": str(short_tmp)})
    assert str(path) in str(raised.value) and message in str(raised.value)


@pytest.mark.timeout(60)
def test_the_daemon_and_the_command_line_apply_the_user_file(
    short_tmp: Path, pm_environment: dict[str, str]
) -> None:
    environment = {key: value for key, value in pm_environment.items() if key != "PM_ALLOWED_COMMANDS"}
    allowed = pm_environment["PM_ALLOWED_COMMANDS"]
    write_user_config(
        Path(environment["HOME"]), f'[settings]\nPM_ALLOWED_COMMANDS = "{allowed}"\nPM_MAX_PROCESSES = 1\n'
    )

    def pm(*arguments: str) -> subprocess.CompletedProcess[str]:
        return run_cli(environment, short_tmp, *arguments)

    launcher = DaemonLauncher(short_tmp, environment)
    try:
        launcher.start()
        assert pm("start", "first", "--", PYTHON, "-c", "import time; time.sleep(60)").returncode == 0
        second = pm("start", "second", "--", PYTHON, "-c", "pass")
        assert second.returncode == 1 and "limit_reached" in second.stderr, second.stderr
    finally:
        launcher.stop_all()
    write_user_config(Path(environment["HOME"]), "[settings]\nPM_MAX_PROCESSES = 'many'\n")
    broken = pm("status")
    assert broken.returncode == 2 and "PM_MAX_PROCESSES='many' is not valid" in broken.stderr
    assert "Traceback" not in broken.stderr
