"""How a front end (the MCP shim, the CLI) opens its backend, as `PM_DAEMON_MODE` chooses.

The daemon's client and the in-process actor system are imported only when chosen, so a shim
talking to a daemon never loads the actors, and an in-process one never loads the IPC client.
"""

from __future__ import annotations

from pm_actors.config import Config
from pm_actors.ipc.session import Backend, BackendOpener


def backend_opener(config: Config) -> BackendOpener:
    """How to reach the backend that `config.daemon_mode` chooses."""
    if config.daemon_mode == "enabled":

        async def connect_to_daemon() -> Backend:
            from pm_actors.ipc.launcher import connect_or_start

            return await connect_or_start(config)

        return connect_to_daemon

    async def start_in_process() -> Backend:
        from pm_actors.app.local import InProcessBackend

        # Called on the event loop's (main) thread on purpose: starting the actor system is
        # short, and it may need the main thread (signal handlers).
        return InProcessBackend.start(config)

    return start_in_process
