"""Our own log lines go to stderr (or the daemon's log file), never to stdout: the MCP shim's
stdout carries only JSON-RPC."""

from __future__ import annotations

import logging
import sys

from pm_actors.config import Config

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(config: Config, quiet: bool = False) -> None:
    """`quiet` (the command line): warnings and errors only, unless PM_DEBUG asks for more;
    a person reads the command's own output, not our progress notes."""
    level = logging.DEBUG if config.debug else getattr(logging, config.log_level.upper())
    if quiet and not config.debug:
        level = max(level, logging.WARNING)
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stderr, force=True)
