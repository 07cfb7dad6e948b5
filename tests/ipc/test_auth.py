from __future__ import annotations

import stat

import msgspec
import pytest

from pm_actors.config import Config
from pm_actors.errors import DaemonUnavailable
from pm_actors.ipc.auth import load_or_create_token, read_token, tokens_match


@pytest.fixture
def file_config(config: Config) -> Config:
    """A config without PM_DAEMON_TOKEN, so the token lives in the daemon's token file."""
    return msgspec.structs.replace(config, daemon_token=None)


def test_the_daemon_creates_a_private_token_file_that_clients_read(file_config: Config) -> None:
    token = load_or_create_token(file_config)
    assert len(token) >= 32
    assert stat.S_IMODE(file_config.token_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(file_config.state_dir.stat().st_mode) == 0o700
    assert read_token(file_config) == token
    assert load_or_create_token(file_config) == token


def test_pm_daemon_token_wins_over_the_file(config: Config) -> None:
    assert load_or_create_token(config) == config.daemon_token
    assert read_token(config) == config.daemon_token
    assert not config.token_path.exists()


def test_a_missing_token_file_tells_the_client_what_to_do(file_config: Config) -> None:
    with pytest.raises(DaemonUnavailable) as caught:
        read_token(file_config)
    assert str(file_config.token_path) in caught.value.message
    assert "`pm-actors daemon`" in caught.value.message


def test_a_token_file_other_users_could_read_is_replaced(file_config: Config) -> None:
    exposed = load_or_create_token(file_config)
    file_config.token_path.chmod(0o644)
    fresh = load_or_create_token(file_config)
    assert fresh != exposed
    assert stat.S_IMODE(file_config.token_path.stat().st_mode) == 0o600


def test_tokens_compare_without_failing_on_any_text() -> None:
    assert tokens_match("same-token", "same-token")
    assert not tokens_match("other-token", "same-token")
    assert not tokens_match("jeton-épée-\udcff", "same-token")


@pytest.mark.parametrize(
    "given",
    [
        "0123456789abcdef0123456789abcdeF",  # same length, only the last character differs
        "1123456789abcdef0123456789abcdef",  # same length, only the first character differs
        "0123456789abcdef",  # a prefix
        "0123456789abcdef0123456789abcdef0",  # the token and one more character
        "",
        "\udcff\udcfe",  # not UTF-8 (surrogate-escaped bytes), never equal
    ],
)
def test_only_the_whole_token_matches(given: str) -> None:
    expected = "0123456789abcdef0123456789abcdef"
    assert tokens_match(expected, expected)
    assert not tokens_match(given, expected)
