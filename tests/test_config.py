from __future__ import annotations

from pathlib import Path

import pytest

from pm_actors.config import ConfigError, load_config


def test_defaults_derive_from_home_alone() -> None:
    config = load_config({"HOME": "/home/ada"}, working_directory=Path("/somewhere"))
    assert config.database_path == Path("/home/ada/.local/share/pm-actors/process-logs.db")
    assert config.daemon_socket_path == Path("/home/ada/.local/state/pm-actors/daemon.sock")
    assert config.token_path == Path("/home/ada/.local/state/pm-actors/daemon.token")
    assert config.daemon_log_path == Path("/home/ada/.local/state/pm-actors/daemon.log")
    assert config.max_processes == 50
    assert config.auto_restart_enabled is True
    assert config.daemon_mode == "enabled"
    assert "env" in config.denied_commands


def test_a_relative_database_path_is_resolved_against_the_directory_it_was_given_in() -> None:
    config = load_config(
        {"HOME": "/h", "PM_DATABASE_PATH": "./data/process-logs.db"}, working_directory=Path("/projects/app")
    )
    assert config.database_path == Path("/projects/app/data/process-logs.db")


@pytest.mark.parametrize(
    ("variable", "value", "allowed"),
    [
        ("PM_MAX_PROCESSES", "many", "whole number from 1 to 10000"),
        ("PM_AUTO_RESTART_ENABLED", "maybe", "true/false, 1/0, yes/no or on/off"),
        ("PM_LOG_LEVEL", "loud", "debug, info, warning, error"),
        ("PM_DAEMON_MODE", "sometimes", "enabled, disabled"),
        ("PM_DAEMON_TRANSPORT", "pigeon", "unix, tcp"),
        ("PM_DAEMON_TCP_BIND", "0.0.0.0", "loopback"),
        ("PM_MAX_CPU_PERCENT", "-5", "number from 1 to"),
        ("PM_DAEMON_SOCKET_PATH", "/tmp/" + "s" * 120, "at most 107 bytes"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable_the_value_and_what_is_allowed(
    variable: str, value: str, allowed: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config({"HOME": "/h", variable: value})
    message = str(raised.value)
    assert "\n" not in message
    assert variable in message and repr(value) in message and allowed in message


@pytest.mark.parametrize(("text", "expected"), [("yes", True), ("0", False), ("ON", True), ("off", False)])
def test_booleans_accept_the_usual_spellings(text: str, expected: bool) -> None:
    assert load_config({"HOME": "/h", "PM_DEBUG": text}).debug is expected
    assert load_config({"HOME": "/h", "PM_ERROR_TRACKING": text}).error_tracking is expected
