"""How a process is supervised: restart policy, backoff, health check and resource limits.

These structs are arguments of `start_process` (so they appear in its MCP schema), parts of the
stored definition, and what `get_process_info` shows. Units are in the field names.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

RestartPolicy = Literal["never", "on-failure", "always"]

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

    command: Annotated[str, msgspec.Meta(min_length=1)]
    args: list[str] = []


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
