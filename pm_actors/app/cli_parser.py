"""The `pm-actors` command line: every command, its options, and an example in its help."""

from __future__ import annotations

import argparse
from typing import get_args

from pm_actors import __version__
from pm_actors.error_results import ErrorCategory
from pm_actors.request_base import SearchMode, SignalName
from pm_actors.specs import RestartPolicy, StopStrategy

DEFAULT_HTTP_HOST = "127.0.0.1"
DEFAULT_HTTP_PORT = 46574
"""Beside the daemon's TCP port (46573), away from the ports dev servers take (3000, 5000,
8000, 8080): pm-actors is there to run those."""


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    summary: str,
    example: str,
    aliases: tuple[str, ...] = (),
) -> argparse.ArgumentParser:
    return commands.add_parser(
        name,
        aliases=list(aliases),
        help=summary,
        description=summary,
        epilog=f"example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _names(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"the processes to {what}")
    parser.add_argument("--all", action="store_true", help=f"{what} every managed process")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pm-actors",
        description="A process manager that an LLM drives over MCP, and you from here.",
        epilog="Run `pm-actors COMMAND --help` for a command's options and an example.",
    )
    parser.add_argument("--version", action="version", version=f"pm-actors {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _process_commands(commands)
    _output_commands(commands)
    _stack_commands(commands)
    _daemon_commands(commands)
    return parser


def _process_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ps = _command(commands, "ps", "list the managed processes", "pm-actors ps --watch", aliases=("ls",))
    ps.add_argument("--json", action="store_true", help="print the records as JSON")
    ps.add_argument("--watch", nargs="?", type=float, const=2.0, metavar="SECONDS", help="refresh in place")

    start = _command(
        commands,
        "start",
        "start a process (or, with no command, its stored definition again)",
        "pm-actors start web --cwd ~/shop -e PORT=3000 -- /usr/bin/python3 -m http.server 3000",
    )
    start.usage = (
        "pm-actors start NAME [options] -- COMMAND [ARGS...]\n       pm-actors start NAME... | --all"
    )
    _names(start, "start (their stored definitions)")
    start.add_argument("--cwd", help="working directory (default: here)")
    start.add_argument("-e", "--env", action="append", default=[], metavar="KEY=VALUE", help="set a variable")
    start.add_argument("--restart", choices=get_args(RestartPolicy), help="restart policy")
    start.add_argument(
        "--max-restarts", type=int, metavar="N", help="automatic restarts in a row before fatal"
    )
    start.add_argument("--stop-timeout", type=float, metavar="SECONDS", help="from SIGTERM to SIGKILL")

    for name, summary, example in (
        (
            "stop",
            "stop processes gracefully (SIGTERM, then SIGKILL after the stop timeout)",
            "pm-actors stop web",
        ),
        ("restart", "stop and start processes again", "pm-actors restart web worker"),
        ("rm", "delete stopped processes with their history and output", "pm-actors rm web"),
    ):
        command = _command(commands, name, summary, example)
        _names(command, name)
    kill = _command(
        commands, "kill", "send a signal to processes (default SIGKILL)", "pm-actors kill -s SIGHUP web"
    )
    _names(kill, "signal")
    kill.add_argument("-s", "--signal", default="SIGKILL", choices=get_args(SignalName))

    info = _command(commands, "info", "everything about one process", "pm-actors info web")
    info.add_argument("name", metavar="NAME")
    info.add_argument("--json", action="store_true")

    wait = _command(commands, "wait", "wait until a process is ready", "pm-actors wait web --port 3000")
    wait.add_argument("name", metavar="NAME")
    until = wait.add_mutually_exclusive_group(required=True)
    until.add_argument("--port", type=int, help="until it listens on this TCP port")
    until.add_argument("--line", metavar="REGEX", help="until a log line matches")
    until.add_argument("--healthy", action="store_true", help="until its health check passes")
    until.add_argument("--exited", action="store_true", help="until its run ends")
    wait.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS")


def _output_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    logs = _command(
        commands, "logs", "show a process's output", "pm-actors logs web -n 50 -f --grep 'ERROR|WARN'"
    )
    logs.add_argument("name", metavar="NAME")
    logs.add_argument("-n", "--lines", type=int, default=50, metavar="N", help="how many of the newest lines")
    logs.add_argument("--stderr", action="store_true", help="only stderr")
    logs.add_argument("--stdout", action="store_true", help="only stdout")
    logs.add_argument("-f", "--follow", action="store_true", help="show new lines as they come (Ctrl-C ends)")
    logs.add_argument("--since", metavar="WHEN", help="only lines since then: 10m, 2h, 2024-05-01T12:00:00Z")
    logs.add_argument("--grep", metavar="REGEX", help="only lines this Python regular expression matches")

    search = _command(commands, "search", "search stored output", 'pm-actors search "connection refused"')
    search.add_argument("query")
    search.add_argument("--name", metavar="NAME", help="only this process")
    search.add_argument("--mode", choices=get_args(SearchMode), default="words")
    search.add_argument("-n", "--limit", type=int, default=50, metavar="N")

    errors = _command(
        commands,
        "errors",
        "errors found in output: with no NAME, the unresolved ones with counts and trend",
        "pm-actors errors web --category port_in_use",
    )
    errors.add_argument("name", nargs="?", metavar="NAME", help="only this process's errors")
    errors.add_argument("--category", choices=get_args(ErrorCategory))
    errors.add_argument("--since", metavar="WHEN", help="only errors seen since then: 10m, 2h, an ISO time")
    solved = errors.add_mutually_exclusive_group()
    solved.add_argument("--resolved", action="store_const", const=True, help="only resolved ones")
    solved.add_argument("--unresolved", dest="resolved", action="store_const", const=False)
    errors.add_argument("-n", "--limit", type=int, default=10, metavar="N")
    errors.add_argument("--json", action="store_true")

    resolve = _command(
        commands,
        "resolve",
        "mark an error resolved; if it happens again it is reopened and says it came back",
        'pm-actors resolve 3 --note "added settings.json"',
    )
    resolve.add_argument("error_id", type=int, metavar="ID", help="the error's number, as errors shows it")
    resolve.add_argument("--note", help="what fixed it, for whoever sees it next")


def _stack_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for name, summary, example in (
        ("up", "start the processes of pm-actors.toml in order, each ready before the next", "pm-actors up"),
        ("down", "stop the processes of pm-actors.toml", "pm-actors down api"),
    ):
        command = _command(commands, name, summary, example)
        command.add_argument("names", nargs="*", metavar="NAME", help="only these processes of the file")
        command.add_argument("-f", "--file", help="the project file (default: ./pm-actors.toml)")

    group = _command(
        commands,
        "group",
        "groups of processes: ls, create, add, rm, delete, start, stop",
        "pm-actors group create stack db api web && pm-actors group start stack",
    )
    group.add_argument("action", choices=("ls", "create", "add", "rm", "delete", "start", "stop"))
    group.add_argument("group", nargs="?", metavar="GROUP")
    group.add_argument("members", nargs="*", metavar="NAME", help="processes (create, add, rm)")
    group.add_argument("--strategy", choices=get_args(StopStrategy), help="stop strategy (create, stop)")
    group.add_argument("--rollback", action="store_true", help="start: stop what it started on a failure")
    group.add_argument("--stop", action="store_true", help="delete: stop the members first")


def _daemon_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = _command(
        commands, "status", "the daemon: pid, uptime, version, socket, database", "pm-actors status"
    )
    status.add_argument("--json", action="store_true")

    daemon = _command(
        commands,
        "daemon",
        "run the daemon in the foreground, or start, stop, restart it in the background",
        "pm-actors daemon start",
    )
    daemon.add_argument(
        "action", nargs="?", default="run", choices=("run", "start", "stop", "restart", "status")
    )

    mcp = _command(
        commands,
        "mcp",
        "serve MCP over stdio (what an MCP client launches), or over Streamable HTTP",
        "pm-actors mcp --http --port 46574",
    )
    mcp.add_argument("--http", action="store_true", help="serve Streamable HTTP at http://HOST:PORT/mcp")
    mcp.add_argument(
        "--host",
        default=DEFAULT_HTTP_HOST,
        help="address to listen on (default 127.0.0.1; any other needs PM_MCP_HTTP_TOKEN)",
    )
    mcp.add_argument("--port", type=_port, default=DEFAULT_HTTP_PORT, help=f"default {DEFAULT_HTTP_PORT}")


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a port from 1 to 65535") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError("expected a port from 1 to 65535")
    return port
