from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.daemon_support import Daemon, DaemonLauncher
from tests.helpers import PYTHON_ROOT, wait_until


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A private temp dir with a short path: pytest's tmp_path can exceed the Unix socket limit."""
    directory = Path(tempfile.mkdtemp(prefix="pm", dir="/tmp"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def pm_environment(short_tmp: Path) -> dict[str, str]:
    """Every PM_* variable a test daemon or shim needs: own DB, socket, token; python allowed."""
    return {
        "HOME": str(short_tmp / "home"),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PM_DATABASE_PATH": str(short_tmp / "pm.db"),
        "PM_DAEMON_SOCKET_PATH": str(short_tmp / "run" / "d.sock"),
        "PM_DAEMON_TOKEN": secrets.token_hex(16),
        "PM_ALLOWED_COMMANDS": f"{PYTHON_ROOT},/usr/bin,/bin",
        "PM_LOG_LEVEL": "debug",
    }


@pytest.fixture
def daemons(short_tmp: Path, pm_environment: dict[str, str]) -> Iterator[DaemonLauncher]:
    """Real daemons for one test, each SIGTERMed at the end (SIGKILL past a bound); the test
    fails if one had to be killed or logged a traceback."""
    launcher = DaemonLauncher(short_tmp, pm_environment)
    try:
        yield launcher
    finally:
        launcher.stop_all()


@pytest.fixture
def daemon(daemons: DaemonLauncher) -> Daemon:
    return daemons.start()


@pytest.fixture(autouse=True)
def no_child_left_behind() -> Iterator[None]:
    """Every test ends with every process it started (directly or through our actors) gone."""
    yield
    me = psutil.Process()
    wait_until(
        lambda: (
            not [child for child in me.children(recursive=True) if child.status() != psutil.STATUS_ZOMBIE]
        ),
        timeout=10,
        message="the test's child processes to be gone",
    )
