"""The settings a restart asks for (`pm-actors daemon restart`, or a client given other settings),
handed to the next daemon: written (0600) beside the socket, read and removed by the daemon as
it ends on SIGHUP, passed to its keeper, which starts the next daemon with them over its own.
Only `PM_*` variables travel."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path

import msgspec

from pm_actors.config import Config

FILE_NAME = "restart-settings.json"


def settings_path(config: Config) -> Path:
    return config.state_dir / FILE_NAME


def leave_restart_settings(config: Config, settings: Mapping[str, str]) -> None:
    """What the next daemon should run with, over the current daemon's: PM_* variables."""
    settings = {name: value for name, value in settings.items() if name.startswith("PM_")}
    path = settings_path(config)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(msgspec.json.encode(settings))


def take_restart_settings(config: Config) -> dict[str, str] | None:
    """The settings a restart asked for (None: keep the current ones), removed once read."""
    path = settings_path(config)
    try:
        settings = msgspec.json.decode(path.read_bytes())
    except (FileNotFoundError, msgspec.DecodeError):
        return None
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    if not isinstance(settings, dict):
        return None
    return {str(name): str(value) for name, value in settings.items() if str(name).startswith("PM_")}
