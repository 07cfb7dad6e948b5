"""The user's config file: PM_* settings for every pm-actors command of this user.

`$XDG_CONFIG_HOME/pm-actors/config.toml` (by default `~/.config/pm-actors/config.toml`) holds a
`[settings]` table, as a project file does. The environment wins over a project file's
settings, which win over these: the nearer the command, the stronger the word.

```toml
[settings]
PM_ALLOWED_COMMANDS = ["/usr/bin", "/home/me/.pyenv/versions/3.12.1/bin"]
PM_MAX_PROCESSES = 20
```
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

from pm_actors.app.project import file_problem, settings_table
from pm_actors.config import ConfigError


def settings_environment(project_settings: Mapping[str, str] | None = None) -> dict[str, str]:
    """The settings in force: the environment's, over the project file's, over the user's file."""
    return {**user_settings(os.environ), **(project_settings or {}), **os.environ}


def user_config_path(environment: Mapping[str, str]) -> Path:
    home = Path(environment.get("HOME") or Path.home())
    config_home = Path(environment.get("XDG_CONFIG_HOME") or home / ".config")
    return config_home / "pm-actors" / "config.toml"


def user_settings(environment: Mapping[str, str]) -> dict[str, str]:
    """The settings of the user's config file (none without one); ConfigError naming the line
    and the key when it is wrong."""
    path = user_config_path(environment)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    for key in document:
        if key != "settings":
            raise file_problem(path, text, [key], "unknown key; the file holds one [settings] table")
    return settings_table(path, text, document.get("settings", {}))
