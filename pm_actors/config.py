"""Configuration: every `PM_*` variable, read and validated in one place.

Each variable has one named converter (as supervisor's `datatypes.py`); a bad value stops
start-up with one line naming the variable, the value and what is allowed. Defaults derive
from HOME alone where the shim and a terminal must agree (the socket): MCP clients pass the
server little more than HOME and PATH.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import msgspec

MAX_UNIX_SOCKET_PATH_BYTES = 107
"""sun_path holds 108 bytes on Linux, one of them the terminating NUL."""

DENIED_SHELLS = (
    "sh,bash,rbash,dash,ash,zsh,ksh,lksh,mksh,yash,posh,csh,tcsh,fish,elvish,nu,xonsh,pwsh,busybox"
)
DENIED_LAUNCHERS = (
    "env,setsid,nohup,xargs,parallel,sudo,su,sg,doas,pkexec,runuser,chroot,unshare,nsenter,setpriv,"
    "capsh,fakeroot,firejail,bwrap,proot,nice,ionice,chrt,taskset,numactl,cpulimit,prlimit,setarch,"
    "linux32,linux64,i386,x86_64,uname26,timeout,time,stdbuf,flock,script,watch,entr,logsave,rlwrap,"
    "run-parts,unbuffer,expect,daemonize,start-stop-daemon,systemd-run,systemd-cat,dbus-run-session,"
    "ssh-agent,at,batch,crontab,tmux,screen,strace,ltrace,gdb,lldb,valgrind,perf,"
    "ld.so,ld-linux.so.2,ld-linux-x86-64.so.2,ld-linux-aarch64.so.1"
)
DENIED_COMMAND_RUNNERS = (
    "find,awk,gawk,mawk,nawk,sed,tar,cpio,zip,rsync,scp,sftp,ssh,git,make,gmake,cmake,"
    "vi,vim,nvim,rvim,view,rview,vimdiff,ex,ed,emacs,less,more,man,pg,dc,sqlite3,mysql,psql,"
    "socat,nc,ncat,netcat,wget,docker,podman,apt,apt-get"
)
DEFAULT_DENIED_COMMANDS = f"{DENIED_SHELLS},{DENIED_LAUNCHERS},{DENIED_COMMAND_RUNNERS}"
"""Refused even under an allowed root, because a path allowlist alone would let them run
anything: shells; launchers, which run the program named in their arguments or leave the
process group; and programs whose options run a command (GTFOBins lists them: `sed '1e CMD'`,
`tar --checkpoint-action=exec=CMD`, `git -c alias.x='!CMD'`, `make --eval`, `vim -c '!CMD'`,
`zip -TT CMD`, `rsync -e`, `less` and `man` through their pager escapes, `dc '!CMD'`,
`sqlite3 '.shell CMD'`, `wget --use-askpass`, container runners...). General-purpose
interpreters (python, node, perl, ruby) are not on it: running code is what a user allows them
for, and the README says so."""

LogLevel = Literal["debug", "info", "warning", "error"]


class ConfigError(Exception):
    """A variable has a value we cannot use; the message is the one line shown to the person."""


class RateLimit(msgspec.Struct, frozen=True):
    """At most `calls` calls of one tool per `period_s` seconds on one client connection: a token
    bucket of `calls` tokens refilled at `calls / period_s` per second."""

    calls: int
    period_s: float


DAEMON_SETTINGS: dict[str, str] = {
    "PM_DATABASE_PATH": "database_path",
    "PM_LOG_RETENTION_DAYS": "log_retention_days",
    "PM_MAX_PROCESSES": "max_processes",
    "PM_HEALTH_CHECK_INTERVAL": "health_check_interval_ms",
    "PM_AUTO_RESTART_ENABLED": "auto_restart_enabled",
    "PM_LOG_LEVEL": "log_level",
    "PM_ALLOWED_COMMANDS": "allowed_commands",
    "PM_DENIED_COMMANDS": "denied_commands",
    "PM_MAX_LOG_SIZE_MB": "max_log_size_mb",
    "PM_MAX_CPU_PERCENT": "max_cpu_percent",
    "PM_MAX_MEMORY_MB": "max_memory_mb",
    "PM_QUERY_TIMEOUT_MS": "query_timeout_ms",
    "PM_RATE_LIMIT": "rate_limit",
    "PM_DEBUG": "debug",
}
"""The settings a running daemon applies, by variable: a client given another value for one of
them must not be silently served with the daemon's (the others are the client's own)."""


class Config(msgspec.Struct, frozen=True, kw_only=True):
    database_path: Path
    log_retention_days: int
    max_processes: int
    health_check_interval_ms: int
    auto_restart_enabled: bool
    log_level: LogLevel
    allowed_commands: tuple[Path, ...]
    denied_commands: frozenset[str]
    max_log_size_mb: int
    max_cpu_percent: float
    max_memory_mb: int
    query_timeout_ms: int
    rate_limit: RateLimit | None
    error_tracking: bool
    daemon_mode: Literal["enabled", "disabled"]
    daemon_auto_start: bool
    daemon_socket_path: Path
    daemon_transport: Literal["unix", "tcp"]
    daemon_tcp_bind: str
    daemon_tcp_port: int
    daemon_token: str | None
    mcp_http_token: str | None
    debug: bool
    explicit: frozenset[str] = frozenset()
    """The PM_* variables the environment gave (the others took their defaults)."""

    def daemon_settings(self) -> dict[str, str]:
        """What a daemon applies, each setting as comparable text, by variable name."""
        return {name: _as_text(getattr(self, field)) for name, field in DAEMON_SETTINGS.items()}

    def settings_differing_from(self, daemon: Mapping[str, str]) -> dict[str, tuple[str, str]]:
        """The settings this config was explicitly given that `daemon` (a running daemon's
        `daemon_settings`) applies otherwise: name -> (the daemon's, ours)."""
        ours = self.daemon_settings()
        return {
            name: (daemon.get(name, "?"), ours[name])
            for name in sorted(self.explicit & set(DAEMON_SETTINGS))
            if daemon.get(name) != ours[name]
        }

    @property
    def state_dir(self) -> Path:
        """Where the socket, the generated token and the daemon's log live (0700)."""
        return self.daemon_socket_path.parent

    @property
    def daemon_address(self) -> str:
        """Where the daemon listens and clients look for it, as people read it."""
        if self.daemon_transport == "unix":
            return str(self.daemon_socket_path)
        return f"{self.daemon_tcp_bind}:{self.daemon_tcp_port}"

    @property
    def token_path(self) -> Path:
        return self.state_dir / "daemon.token"

    @property
    def daemon_log_path(self) -> Path:
        return self.state_dir / "daemon.log"

    @property
    def lock_path(self) -> Path:
        """The single-instance lock lives beside the database: one daemon per database."""
        return self.database_path.with_name(self.database_path.name + ".lock")

    def daemon_environment(self, base: Mapping[str, str]) -> dict[str, str]:
        """`base` with the paths this config resolved, so a daemon started elsewhere agrees."""
        environment = dict(base)
        environment["PM_DATABASE_PATH"] = str(self.database_path)
        environment["PM_DAEMON_SOCKET_PATH"] = str(self.daemon_socket_path)
        return environment


def _as_text(value: object) -> str:
    """A setting as text two configs can be compared by (sets sorted, paths as text)."""
    if isinstance(value, (tuple, list)):
        return ",".join(_as_text(item) for item in value)
    if isinstance(value, frozenset):
        return ",".join(sorted(_as_text(item) for item in value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, msgspec.Struct):
        return msgspec.json.encode(value, order="sorted").decode()
    return str(value)


# Converters: each takes the raw text and returns the value or raises ValueError whose text
# says what is allowed.


def boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise ValueError("expected true/false, 1/0, yes/no or on/off")


def whole_number(minimum: int, maximum: int) -> Callable[[str], int]:
    def convert(text: str) -> int:
        try:
            number = int(text.strip())
        except ValueError:
            raise ValueError(f"expected a whole number from {minimum} to {maximum}") from None
        if not minimum <= number <= maximum:
            raise ValueError(f"expected a whole number from {minimum} to {maximum}")
        return number

    return convert


def decimal_number(minimum: float, maximum: float) -> Callable[[str], float]:
    def convert(text: str) -> float:
        try:
            number = float(text.strip())
        except ValueError:
            raise ValueError(f"expected a number from {minimum:g} to {maximum:g}") from None
        if not minimum <= number <= maximum:
            raise ValueError(f"expected a number from {minimum:g} to {maximum:g}")
        return number

    return convert


def choice(*allowed: str) -> Callable[[str], str]:
    def convert(text: str) -> str:
        lowered = text.strip().lower()
        if lowered not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}")
        return lowered

    return convert


def absolute_path(base_directory: Path) -> Callable[[str], Path]:
    """A path; a relative one is resolved once, against the directory it was given in."""

    def convert(text: str) -> Path:
        if not text.strip():
            raise ValueError("expected a file path")
        return Path(base_directory, os.path.expanduser(text.strip())).absolute()

    return convert


def socket_path(base_directory: Path) -> Callable[[str], Path]:
    to_path = absolute_path(base_directory)

    def convert(text: str) -> Path:
        path = to_path(text)
        if len(os.fsencode(path)) > MAX_UNIX_SOCKET_PATH_BYTES:
            raise ValueError(
                f"expected a path of at most {MAX_UNIX_SOCKET_PATH_BYTES} bytes "
                f"(a Unix socket path is limited; this one has {len(os.fsencode(path))})"
            )
        return path

    return convert


def command_roots(text: str) -> tuple[Path, ...]:
    """Comma-separated directories or single executables, realpath'd once so that symlinked
    entries compare truly: an executable is allowed when its realpath is one of them or lies
    under one of them."""
    roots = tuple(Path(os.path.realpath(part.strip())) for part in text.split(",") if part.strip())
    if not roots:
        raise ValueError(
            "expected a comma-separated list of directories or executables, e.g. /usr/bin,/usr/local/bin"
        )
    return roots


def command_names(text: str) -> frozenset[str]:
    return frozenset(part.strip() for part in text.split(",") if part.strip())


RATE_LIMIT_PATTERN = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*(s|m)?\s*$")


def rate_limit(text: str) -> RateLimit | None:
    """`CALLS/PERIOD` with the period in seconds (`s`, the default) or minutes (`m`): `2000/10s`,
    `60/1m`; `off` for no limit."""
    if text.strip().lower() == "off":
        return None
    match = RATE_LIMIT_PATTERN.match(text)
    if match is None or int(match[1]) < 1 or float(match[2]) <= 0:
        raise ValueError("expected CALLS/PERIOD such as 2000/10s or 60/1m (at least 1 call), or off")
    period_s = float(match[2]) * (60 if match[3] == "m" else 1)
    return RateLimit(calls=int(match[1]), period_s=period_s)


def loopback_host(text: str) -> str:
    host = text.strip()
    if host == "localhost":
        return host
    try:
        if ipaddress.ip_address(host).is_loopback:
            return host
    except ValueError:
        pass
    raise ValueError("expected a loopback address such as 127.0.0.1 or ::1 (never a public interface)")


def token(text: str) -> str:
    if len(text) < 16:
        raise ValueError("expected a token of at least 16 characters")
    return text


@dataclass(frozen=True)
class Variable:
    name: str
    field: str
    default: str | None
    convert: Callable[[str], Any]
    empty_means_default: bool = True
    """An empty value usually means "unset"; for a list that may be empty it means the empty list."""


def setting_names() -> list[str]:
    """Every PM_* setting pm-actors reads, sorted."""
    anywhere = Path("/")
    return sorted(variable.name for variable in _variables(anywhere, anywhere, anywhere))


def _variables(home: Path, data_home: Path, working_directory: Path) -> tuple[Variable, ...]:
    state_dir = home / ".local" / "state" / "pm-actors"
    return (
        Variable(
            "PM_DATABASE_PATH",
            "database_path",
            str(data_home / "pm-actors" / "process-logs.db"),
            absolute_path(working_directory),
        ),
        Variable("PM_LOG_RETENTION_DAYS", "log_retention_days", "30", whole_number(1, 36500)),
        Variable("PM_MAX_PROCESSES", "max_processes", "50", whole_number(1, 10_000)),
        Variable(
            "PM_HEALTH_CHECK_INTERVAL", "health_check_interval_ms", "60000", whole_number(100, 86_400_000)
        ),
        Variable("PM_AUTO_RESTART_ENABLED", "auto_restart_enabled", "true", boolean),
        Variable("PM_LOG_LEVEL", "log_level", "info", choice("debug", "info", "warning", "error")),
        Variable("PM_ALLOWED_COMMANDS", "allowed_commands", "/usr/bin,/usr/local/bin,/opt", command_roots),
        Variable(
            "PM_DENIED_COMMANDS",
            "denied_commands",
            DEFAULT_DENIED_COMMANDS,
            command_names,
            empty_means_default=False,
        ),
        Variable("PM_MAX_LOG_SIZE_MB", "max_log_size_mb", "100", whole_number(1, 1_000_000)),
        Variable("PM_MAX_CPU_PERCENT", "max_cpu_percent", "80", decimal_number(1, 100_000)),
        Variable("PM_MAX_MEMORY_MB", "max_memory_mb", "1024", whole_number(1, 10_000_000)),
        Variable("PM_QUERY_TIMEOUT_MS", "query_timeout_ms", "5000", whole_number(10, 600_000)),
        Variable("PM_RATE_LIMIT", "rate_limit", "2000/10s", rate_limit),
        Variable("PM_ERROR_TRACKING", "error_tracking", "true", boolean),
        Variable("PM_DAEMON_MODE", "daemon_mode", "enabled", choice("enabled", "disabled")),
        Variable("PM_DAEMON_AUTO_START", "daemon_auto_start", "true", boolean),
        Variable(
            "PM_DAEMON_SOCKET_PATH",
            "daemon_socket_path",
            str(state_dir / "daemon.sock"),
            socket_path(working_directory),
        ),
        Variable("PM_DAEMON_TRANSPORT", "daemon_transport", "unix", choice("unix", "tcp")),
        Variable("PM_DAEMON_TCP_BIND", "daemon_tcp_bind", "127.0.0.1", loopback_host),
        Variable("PM_DAEMON_TCP_PORT", "daemon_tcp_port", "46573", whole_number(1, 65535)),
        Variable("PM_DAEMON_TOKEN", "daemon_token", None, token),
        Variable("PM_MCP_HTTP_TOKEN", "mcp_http_token", None, token),
        Variable("PM_DEBUG", "debug", "false", boolean),
    )


def load_config(
    environment: Mapping[str, str] | None = None, working_directory: Path | None = None
) -> Config:
    """Read every `PM_*` variable from `environment` (default: the process's own)."""
    if environment is None:
        environment = os.environ
    home = Path(environment.get("HOME") or os.path.expanduser("~"))
    data_home = Path(environment.get("XDG_DATA_HOME") or home / ".local" / "share")
    working_directory = working_directory or Path.cwd()
    values: dict[str, Any] = {}
    explicit = set()
    for variable in _variables(home, data_home, working_directory):
        raw = environment.get(variable.name)
        if raw:
            explicit.add(variable.name)
        if raw is None or (raw == "" and variable.empty_means_default):
            raw = variable.default
        if raw is None:
            values[variable.field] = None
            continue
        try:
            values[variable.field] = variable.convert(raw)
        except ValueError as error:
            raise ConfigError(f"{variable.name}={raw!r} is not valid: {error}") from None
    return Config(**values, explicit=frozenset(explicit))
