"""The `pm-actors` command: the person's side of the same processes an agent drives over MCP.

Every command talks to the daemon through the same client session as the MCP shim. Exit
codes: 0 ok, 1 failure, 2 usage. Errors print the same codes and next steps as the tools,
never a traceback. The MCP shim is imported only for `mcp`, so the daemon never loads `mcp`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pm_actors.app.cli_parser import build_parser
from pm_actors.app.console import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, Console, UsageError
from pm_actors.app.project import Project, find_project_file, load_project
from pm_actors.app.user_config import settings_environment
from pm_actors.config import Config, ConfigError, load_config
from pm_actors.errors import PmError
from pm_actors.logging_setup import configure_logging

Command = Callable[[argparse.Namespace, Console], int]
ProjectCommand = Callable[[argparse.Namespace, Console, Project], int]

COMMANDS: dict[str, str] = {
    "ps": "cli_processes.ps",
    "ls": "cli_processes.ps",
    "start": "cli_processes.start",
    "stop": "cli_processes.stop",
    "restart": "cli_processes.restart",
    "kill": "cli_processes.kill",
    "rm": "cli_processes.rm",
    "info": "cli_processes.info",
    "wait": "cli_processes.wait",
    "logs": "cli_logs.logs",
    "search": "cli_logs.search",
    "errors": "cli_errors.errors",
    "resolve": "cli_errors.resolve",
    "status": "cli_daemon.status",
    "daemon": "cli_daemon.daemon",
    "group": "cli_groups.group",
}
"""Each command's function in `pm_actors.app`, imported only when it runs: `pm-actors mcp`, which
an MCP client starts and waits for, loads none of them."""
PROJECT_COMMANDS: dict[str, str] = {"up": "cli_groups.up", "down": "cli_groups.down"}
"""Commands that read the project file: its [settings] apply to them (the environment wins)."""


def _command(path: str) -> Any:
    module, function = path.split(".")
    return getattr(importlib.import_module(f"pm_actors.app.{module}"), function)


def _project(arguments: argparse.Namespace) -> Project | None:
    if arguments.command not in PROJECT_COMMANDS:
        return None
    return load_project(find_project_file(arguments.file, Path.cwd()))


def main(argv: list[str] | None = None) -> int:
    options, command_line = _split_at_double_dash(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    arguments = parser.parse_args(options)
    arguments.argv = command_line
    try:
        project = _project(arguments)
        config = load_config(settings_environment(None if project is None else project.settings))
    except ConfigError as error:
        print(f"pm-actors: {error}", file=sys.stderr)
        return EXIT_USAGE
    if arguments.command == "mcp":
        return _mcp_http(config, arguments.host, arguments.port) if arguments.http else _mcp(config)
    configure_logging(config, quiet=True)
    console = Console(config)
    try:
        if project is not None:
            project_command: ProjectCommand = _command(PROJECT_COMMANDS[arguments.command])
            return project_command(arguments, console, project)
        command: Command = _command(COMMANDS[arguments.command])
        return command(arguments, console)
    except UsageError as error:
        console.print_error(
            f"pm-actors {arguments.command}: {error} (see pm-actors {arguments.command} --help)"
        )
        return EXIT_USAGE
    except (PmError, ConfigError) as error:
        code = f"{error.code}: " if isinstance(error, PmError) else ""
        console.print_error(f"pm-actors {arguments.command}: {code}{error}")
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_FAILURE
    finally:
        console.close()


def _split_at_double_dash(argv: list[str]) -> tuple[list[str], list[str]]:
    """`start NAME [options] -- COMMAND ARGS...`: what follows `--` is the child's command line,
    never our options, even where it looks like one (`-e`, `--help`)."""
    if "--" not in argv:
        return argv, []
    split = argv.index("--")
    return argv[:split], argv[split + 1 :]


def _mcp(config: Config) -> int:
    from pm_actors.app.backends import backend_opener
    from pm_actors.mcp_shim.main import run_shim

    configure_logging(config)
    run_shim(config, backend_opener(config))
    return EXIT_OK


def _mcp_http(config: Config, host: str, port: int) -> int:
    from pm_actors.app.backends import backend_opener
    from pm_actors.mcp_shim.http import run_http

    try:
        run_http(config, backend_opener(config), host, port)
    except ConfigError as error:
        print(f"pm-actors: {error}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK
