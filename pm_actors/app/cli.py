"""The `pm-actors` command: `daemon` runs the daemon, `mcp` is what MCP clients launch.

The MCP shim is imported only for `mcp`, so the daemon never loads the `mcp` package.
"""

from __future__ import annotations

import argparse
import sys

from pm_actors.config import Config, ConfigError, load_config
from pm_actors.errors import PmError
from pm_actors.logging_setup import configure_logging

EXIT_CONFIG_ERROR = 2
EXIT_FAILURE = 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pm-actors", description="A process manager that an LLM drives over MCP."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("daemon", help="run the daemon in the foreground (Ctrl-C stops it and its processes)")
    commands.add_parser("mcp", help="serve MCP over stdio (what Claude Desktop or Claude Code launches)")
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    try:
        config = load_config()
    except ConfigError as error:
        print(f"pm-actors: {error}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    if arguments.command == "daemon":
        return _daemon(config)
    return _mcp(config)


def _daemon(config: Config) -> int:
    from pm_actors.app.daemon import run_daemon

    configure_logging(config)
    try:
        run_daemon(config)
    except (ConfigError, PmError) as error:
        print(f"pm-actors: {error}", file=sys.stderr)
        return EXIT_FAILURE
    return 0


def _mcp(config: Config) -> int:
    from pm_actors.app.backends import backend_opener
    from pm_actors.mcp_shim.main import run_shim

    configure_logging(config)
    run_shim(config, backend_opener(config))
    return 0
