"""A changed setting is never silently ignored: a client given other settings than the running
daemon applies restarts it with them, or says so.

The daemon's welcome carries the settings it applies. A client compares those it was given
explicitly (in its environment: an MCP client's config, a shell's exports), so that a terminal
with no PM_* variables never undoes what an MCP client asked for. Under a keeper the daemon is
restarted with the new settings, its processes running on; without one, every error the
difference explains says so (and the log does at once).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from typing import Final

from pm_actors.config import Config
from pm_actors.errors import DaemonUnavailable, ErrorCode

from .client import DaemonClient
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


async def with_matching_settings(config: Config, client: DaemonClient) -> DaemonClient:
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
        return await _restarted(config, client, list(differing))
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


async def _restarted(config: Config, client: DaemonClient, names: list[str]) -> DaemonClient:
    old_pid = client.welcome.daemon_pid
    await client.close()
    settings = config.daemon_settings()
    leave_restart_settings(config, {name: settings[name] for name in names})
    os.kill(old_pid, signal.SIGHUP)
    deadline = time.monotonic() + RESTART_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            fresh = await DaemonClient.connect(config)
        except DaemonUnavailable:
            await asyncio.sleep(RESTART_POLL_S)
            continue
        if fresh.welcome.daemon_pid != old_pid:
            return fresh
        await fresh.close()
        await asyncio.sleep(RESTART_POLL_S)
    raise DaemonUnavailable(
        f"the daemon (pid {old_pid}) did not restart within {RESTART_TIMEOUT_S:g} s to apply new settings; "
        f"its log is {config.daemon_log_path}"
    )
