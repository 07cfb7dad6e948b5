"""How a process is supervised: restart policy, backoff, health check and resource limits;
and the shapes of what it runs (an executable, its arguments, its environment).

These structs are arguments of `start_process` (so they appear in its MCP schema), parts of the
stored definition, and what `get_process_info` shows. Units are in the field names. The argv
and environment shapes carry their limits as schema constraints, so a NUL byte, an `=` in a
variable's name or an oversized list is refused where a request is decoded, and a client sees
the rule in the schema.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

RestartPolicy = Literal["never", "on-failure", "always"]

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
