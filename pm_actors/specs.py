"""How a process is declared and supervised: the fields of its definition (`ProcessSpec`),
restart policy, backoff, health check, resource limits, when it counts as ready, and the shapes
of what it runs (an executable, its arguments, its environment).

These structs are arguments of `start_process`, `wait_for` and `create_group` (so they appear
in their MCP schemas), parts of the stored definitions, and what `get_process_info` and
`list_groups` show. Units are in the field names. The argv and environment shapes carry their
limits as schema constraints, so a NUL byte, an `=` in a variable's name or an oversized list
is refused where a request is decoded, and a client sees the rule in the schema.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

import msgspec

from pm_actors.client_regex import compile_client_regex
from pm_actors.errors import InvalidArgument

RestartPolicy = Literal["never", "on-failure", "always"]
StopStrategy = Literal["reverse", "parallel", "sequential"]
"""How a group stops: dependants first (the highest order first), all at once, or in start order."""
ReadyUntil = Literal["running", "log_line", "port", "healthy", "exited"]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
ProcessName = Annotated[
    str,
    msgspec.Meta(
        pattern=NAME_PATTERN,
        description="Name of the managed process: letters, digits, '.', '_' and '-', at most 64.",
    ),
]
NO_NUL = r"^[^\x00]*$"
"""Text the kernel takes as a C string: a NUL byte would cut it (Python refuses it at exec)."""
ENV_NAME = r"^[^=\x00]+$"
"""A variable's name: not empty, no `=` (it would end the name) and no NUL."""
MAX_PATH_CHARS = 4096
"""PATH_MAX: the longest path the kernel resolves."""
MAX_ARGUMENT_CHARS = 32_000
"""One argument: the kernel takes at most 128 KiB per argv or environment string, and 32,000
characters fit in it even at 4 UTF-8 bytes each."""
MAX_ARGUMENTS = 4096
"""Arguments of one command: far more than a command line holds; the request's frame limit
bounds their total size (the kernel's limit for argv plus environment is about 2 MiB)."""
MAX_ENV_VARIABLES = 1024
"""Variables a client may add: a whole login environment holds a few dozen."""
MAX_ENV_NAME_CHARS = 1024
MAX_PATTERN_CHARS = 1000
"""A readiness regular expression: matched against every new line, so kept to a line's size."""

Executable = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_PATH_CHARS, pattern=NO_NUL)]
Argument = Annotated[str, msgspec.Meta(max_length=MAX_ARGUMENT_CHARS, pattern=NO_NUL)]
Arguments = Annotated[
    list[Argument],
    msgspec.Meta(
        max_length=MAX_ARGUMENTS,
        description=f"Arguments, one string each (no NUL byte; at most {MAX_ARGUMENTS}, "
        f"each at most {MAX_ARGUMENT_CHARS} characters).",
    ),
]
EnvName = Annotated[str, msgspec.Meta(max_length=MAX_ENV_NAME_CHARS, pattern=ENV_NAME)]
Environment = Annotated[
    dict[EnvName, Argument],
    msgspec.Meta(
        max_length=MAX_ENV_VARIABLES,
        description="Variables set on top of the daemon's environment (a name is not empty and "
        "holds no '=' or NUL byte; a value holds no NUL byte).",
    ),
]

Seconds = Annotated[float, msgspec.Meta(ge=0.01, le=86_400)]
Port = Annotated[int, msgspec.Meta(ge=1, le=65_535)]


class Backoff(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Delays between automatic restarts: initial_s, then times multiplier each time, at most max_s,
    each varied by +/- jitter (a fraction) so that processes that failed together do not restart
    together."""

    initial_s: Seconds = 1.0
    max_s: Seconds = 60.0
    multiplier: Annotated[float, msgspec.Meta(ge=1, le=10)] = 2.0
    jitter: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.1
    stable_after_s: Annotated[
        Seconds,
        msgspec.Meta(description="A run that lasts this long resets the backoff and the retry count."),
    ] = 30.0
    fatal_retry_s: Annotated[
        Seconds | None,
        msgspec.Meta(description="If set, a process that ended `fatal` is tried again after this long."),
    ] = None

    def delay_s(self, attempt: int, random_fraction: float) -> float:
        """The delay before restart number `attempt` (1 for the first); random_fraction in [0, 1)."""
        base = min(self.max_s, self.initial_s * self.multiplier ** (attempt - 1))
        return base * (1 + self.jitter * (2 * random_fraction - 1))


class _Check(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True, tag_field="type"):
    interval_ms: Annotated[
        Annotated[int, msgspec.Meta(ge=100, le=86_400_000)] | None,
        msgspec.Meta(description="Time between checks; PM_HEALTH_CHECK_INTERVAL by default."),
    ] = None
    timeout_s: Annotated[float, msgspec.Meta(gt=0, le=300)] = 5.0
    failure_threshold: Annotated[
        int, msgspec.Meta(ge=1, le=100, description="Consecutive failures that make the process unhealthy.")
    ] = 3
    restart_when_unhealthy: Annotated[
        bool | None,
        msgspec.Meta(
            description="Restart (with backoff) when unhealthy; PM_AUTO_RESTART_ENABLED by default."
        ),
    ] = None


class CommandCheck(_Check, frozen=True, tag="command"):
    """Healthy when the command exits with code 0 within the timeout (argv, never a shell)."""

    command: Executable
    args: Arguments = []


class TcpCheck(_Check, frozen=True, tag="tcp"):
    """Healthy when a TCP connection to host:port opens within the timeout."""

    port: Port
    host: str = "127.0.0.1"


class HttpCheck(_Check, frozen=True, tag="http"):
    """Healthy when GET url answers with expect_status within the timeout."""

    url: Annotated[str, msgspec.Meta(pattern=r"^https?://")]
    expect_status: Annotated[int, msgspec.Meta(ge=100, le=599)] = 200


HealthCheck = CommandCheck | TcpCheck | HttpCheck


class Limits(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Per-process resource limits, measured over the process and all its children. A breach
    sustained for window_s is recorded and reported; where enforced it restarts the process."""

    max_memory_mb: Annotated[int, msgspec.Meta(ge=1)] | None = None
    max_cpu_percent: Annotated[float, msgspec.Meta(gt=0)] | None = None
    window_s: Seconds = 60.0
    enforce_memory: Annotated[
        bool, msgspec.Meta(description="Restart gracefully on a sustained memory breach.")
    ] = True
    enforce_cpu: Annotated[
        bool,
        msgspec.Meta(
            description="Restart on a sustained CPU breach (off by default: builds use a core for minutes)."
        ),
    ] = False


class ProcessSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A process as a client declares it: the fields of start_process, which a group member
    may give inline too."""

    name: ProcessName
    command: Annotated[
        Executable | None,
        msgspec.Meta(
            description="Executable: a path, or a name looked up on the daemon's PATH. Omitted: the "
            "stored definition of `name` is used as it is (no other field may be given then)."
        ),
    ] = None
    args: Arguments = []
    cwd: Annotated[
        Annotated[str, msgspec.Meta(max_length=MAX_PATH_CHARS, pattern=NO_NUL)] | None,
        msgspec.Meta(description="Working directory; defaults to the caller's working directory."),
    ] = None
    env: Environment = {}
    restart: Annotated[
        RestartPolicy | None,
        msgspec.Meta(
            description="Restart automatically: never, on-failure or always (PM_AUTO_RESTART_ENABLED)."
        ),
    ] = None
    max_restarts: Annotated[
        int,
        msgspec.Meta(ge=0, le=10_000, description="Automatic restarts in a row before giving up (fatal)."),
    ] = 10
    backoff: Backoff = msgspec.field(default_factory=Backoff)
    health_check: Annotated[
        HealthCheck | None, msgspec.Meta(description="A command, TCP or HTTP check run on an interval.")
    ] = None
    limits: Annotated[
        Limits | None,
        msgspec.Meta(description="Resource limits; PM_MAX_MEMORY_MB and PM_MAX_CPU_PERCENT by default."),
    ] = None
    stop_timeout_s: Annotated[
        float, msgspec.Meta(ge=0, le=3600, description="Seconds from SIGTERM to SIGKILL when stopping.")
    ] = 10.0
    restore: Annotated[
        bool | None,
        msgspec.Meta(
            description="Start it again when a daemon starts, if it was running when the last one "
            "ended (a stop of the daemon, a reboot); on by default with restart on-failure or always."
        ),
    ] = None
    stdin: Annotated[
        bool,
        msgspec.Meta(
            description="Keep a pipe to its standard input open, for send_input (a REPL, a prompt "
            "waiting for y). Without it the process reads end of file at once."
        ),
    ] = False

    def definition_fields_given(self) -> list[str]:
        """The fields of the definition (all but `name` and `command`) given other than their default."""
        given = []
        for field in msgspec.structs.fields(ProcessSpec):
            if field.required or field.name == "command":
                continue
            default = field.default_factory() if field.default is msgspec.NODEFAULT else field.default
            if getattr(self, field.name) != default:
                given.append(field.name)
        return given


class ReadyCondition(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """When a process counts as ready: it is running; a log line of its current run matches
    `pattern` (a regular expression); a TCP `port` is listening; it is healthy; or it has
    exited (a group member that is a one-shot step, such as a migration, must exit with code 0)."""

    until: ReadyUntil
    pattern: Annotated[
        Annotated[str, msgspec.Meta(max_length=MAX_PATTERN_CHARS)] | None,
        msgspec.Meta(description="Regular expression, for until=log_line."),
    ] = None
    port: Annotated[
        Port | None,
        msgspec.Meta(description="TCP port, for until=port; any port the process listens on if omitted."),
    ] = None
    timeout_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 30.0

    def compiled_pattern(self) -> re.Pattern[str] | None:
        """The regular expression of a log_line condition; InvalidArgument if it is missing or bad."""
        if self.until != "log_line":
            return None
        if not self.pattern:
            raise InvalidArgument(
                "invalid argument `pattern`: until=log_line needs a regular expression to match"
            )
        return compile_client_regex(self.pattern, "pattern")

    def describe(self) -> str:
        """The condition in words, e.g. `a log line matching /listening/`."""
        if self.until == "log_line":
            return f"a log line matching /{self.pattern}/"
        if self.until == "port":
            return "any listening port" if self.port is None else f"port {self.port} listening"
        return "exited with code 0" if self.until == "exited" else self.until


RUNNING = ReadyCondition(until="running")
"""Ready as soon as the process runs: a group member's condition when it names none."""
