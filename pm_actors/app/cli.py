"""The `pm-actors` command: `daemon` runs the daemon, `mcp` is what MCP clients launch.

The MCP shim is imported only for `mcp`, so the daemon never loads the `mcp` package (nor the
HTTP server that `mcp --http` brings).
"""

from __future__ import annotations

import argparse
import sys

from pm_actors.config import Config, ConfigError, load_config
from pm_actors.errors import PmError
from pm_actors.logging_setup import configure_logging

EXIT_CONFIG_ERROR = 2
EXIT_FAILURE = 1

DEFAULT_HTTP_HOST = "127.0.0.1"
DEFAULT_HTTP_PORT = 46574
"""Beside the daemon's TCP port (46573), away from the ports dev servers take (3000, 5000,
8000, 8080): pm-actors is there to run those."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pm-actors", description="A process manager that an LLM drives over MCP."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("daemon", help="run the daemon in the foreground (Ctrl-C stops it and its processes)")
    mcp = commands.add_parser(
        "mcp", help="serve MCP over stdio (what Claude Desktop or Claude Code launches), or over HTTP"
    )
    mcp.add_argument("--http", action="store_true", help="serve Streamable HTTP at http://HOST:PORT/mcp")
    mcp.add_argument(
        "--host",
        default=DEFAULT_HTTP_HOST,
        help="address to listen on (default 127.0.0.1; any other needs PM_MCP_HTTP_TOKEN)",
    )
    mcp.add_argument("--port", type=_port, default=DEFAULT_HTTP_PORT, help=f"default {DEFAULT_HTTP_PORT}")
    return parser


def _port(text: str) -> int:
    port = int(text)
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError("expected a port from 1 to 65535")
    return port


def main(argv: list[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    try:
        config = load_config()
    except ConfigError as error:
        print(f"pm-actors: {error}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    if arguments.command == "daemon":
        return _daemon(config)
    if arguments.http:
        return _mcp_http(config, arguments.host, arguments.port)
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


def _mcp_http(config: Config, host: str, port: int) -> int:
    from pm_actors.app.backends import backend_opener
    from pm_actors.mcp_shim.http import run_http

    try:
        run_http(config, backend_opener(config), host, port)
    except ConfigError as error:
        print(f"pm-actors: {error}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    return 0
