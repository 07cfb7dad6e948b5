"""A changed setting or an upgrade is never silently ignored: a client given other settings than
the running daemon applies, or installed as another release, restarts it, or says so.

The daemon's welcome carries the settings it applies. A client compares those it was given
explicitly (in its environment: an MCP client's config, a shell's exports), so that a terminal
with no PM_* variables never undoes what an MCP client asked for. Under a keeper the daemon is
restarted with the new settings, its processes running on; without one, every error the
difference explains says so (and the log does at once). A daemon of another release is
restarted (under a keeper) when the restart would run this client's code: the same Python.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from typing import Final

from pm_actors import __version__
from pm_actors.config import Config
from pm_actors.errors import DaemonUnavailable, ErrorCode

from .client import DaemonClient, DaemonOfOtherRelease
from .protocol import Welcome
from .restart_settings import leave_restart_settings

logger = logging.getLogger(__name__)

RESTART_TIMEOUT_S: Final = 30.0
"""A daemon restart under a keeper takes well under a second; this allows for a busy machine."""
RESTART_POLL_S: Final = 0.05
NOT_BY_RESTART: Final = frozenset({"PM_DATABASE_PATH"})
"""Another database is another daemon's: the processes of this one could not be carried over."""
EXPLAINS: Final[dict[str, frozenset[ErrorCode]]] = {
    "PM_ALLOWED_COMMANDS": frozenset({ErrorCode.FORBIDDEN_COMMAND}),
    "PM_DENIED_COMMANDS": frozenset({ErrorCode.FORBIDDEN_COMMAND}),
    "PM_MAX_PROCESSES": frozenset({ErrorCode.LIMIT_REACHED}),
    "PM_QUERY_TIMEOUT_MS": frozenset({ErrorCode.LIMIT_REACHED}),
    "PM_RATE_LIMIT": frozenset({ErrorCode.RATE_LIMITED}),
}
"""Which errors each setting can explain, for the note they carry when it differs."""


async def connect_matching(config: Config) -> DaemonClient:
    """A client of the daemon, restarted first if it runs another release or other settings
    and can be (see the module's doc)."""
    try:
        client = await DaemonClient.connect(config)
    except DaemonOfOtherRelease as other:
        if not _restart_brings_this_release(other.welcome):
            raise
        logger.warning("%s; restarting it on this pm-actors, its processes run on", other.message)
        return await restart_kept_daemon(config, other.welcome.daemon_pid, [])
    if client.welcome.server_version != __version__ and _restart_brings_this_release(client.welcome):
        logger.warning(
            "the daemon runs pm-actors %s, this client is %s: restarting it, its processes run on",
            client.welcome.server_version,
            __version__,
        )
        await client.close()
        return await restart_kept_daemon(config, client.welcome.daemon_pid, [])
    return await _with_matching_settings(config, client)


def _restart_brings_this_release(welcome: Welcome) -> bool:
    return welcome.kept and welcome.interpreter == sys.executable


async def _with_matching_settings(config: Config, client: DaemonClient) -> DaemonClient:
    """`client`, or a client of the daemon restarted with this client's settings."""
    differing = config.settings_differing_from(client.welcome.settings)
    if not differing:
        return client
    described = "; ".join(
        f"{name} is {theirs!r} there, {ours!r} here" for name, (theirs, ours) in differing.items()
    )
    if client.welcome.kept and not set(differing) & NOT_BY_RESTART:
        logger.warning(
            "restarting the daemon to apply this client's settings (%s); its processes run on", described
        )
        await client.close()
        return await restart_kept_daemon(config, client.welcome.daemon_pid, list(differing))
    logger.warning(
        "the daemon applies other settings than this client was given (%s); `pm-actors daemon restart` "
        "applies this client's",
        described,
    )
    note = (
        f"the running daemon applies other settings than this client: {described}; "
        "`pm-actors daemon restart` applies them"
    )
    for name in differing:
        for code in EXPLAINS.get(name, frozenset()):
            client.notes[code] = note
    return client


async def restart_kept_daemon(config: Config, old_pid: int, names: list[str]) -> DaemonClient:
    """A client of the daemon that replaced `old_pid`, which its keeper restarted with this
    client's settings `names` (and the code this client's Python imports)."""
    settings = config.daemon_settings()
    leave_restart_settings(config, {name: settings[name] for name in names})
    os.kill(old_pid, signal.SIGHUP)
    deadline = time.monotonic() + RESTART_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            fresh = await DaemonClient.connect(config)
        except DaemonOfOtherRelease as other:
            if other.welcome.daemon_pid != old_pid:
                raise  # restarted, and still another release: never restart it again and again
            await asyncio.sleep(RESTART_POLL_S)
            continue
        except DaemonUnavailable:
            await asyncio.sleep(RESTART_POLL_S)
            continue
        if fresh.welcome.daemon_pid != old_pid:
            return fresh
        await fresh.close()
        await asyncio.sleep(RESTART_POLL_S)
    raise DaemonUnavailable(
        f"the daemon (pid {old_pid}) did not restart within {RESTART_TIMEOUT_S:g} s; "
        f"its log is {config.daemon_log_path}"
    )
