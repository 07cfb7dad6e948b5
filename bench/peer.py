"""supervisord 4.3, the peer every shared figure is measured against, in the benchmark's own environment.

supervisord is not a dependency of pm-actors: it is installed with pip into a virtual
environment of the benchmark's own, kept in the user's cache (`~/.cache/pm-actors-bench/`) so
that the next run reuses it, and run as `<that python> -m supervisor.supervisord`. The bench
talks to it over its Unix socket with the standard library's XML-RPC client, so the bench
itself never imports supervisor. Without network the install fails: the figures then say the
baseline is unavailable, they do not fail.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

import psutil

REQUIREMENT = "supervisor>=4.3,<4.4"
STARTUP_DEADLINE_S = 20.0
POLL_S = 0.001
CONFIG_COMMON = "autostart=false\nautorestart=false\nstartsecs=0\nstopwaitsecs=5\n"


def environment_dir() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    version = f"py{sys.version_info.major}{sys.version_info.minor}"
    return cache / "pm-actors-bench" / f"supervisor-4.3-{version}"


def peer_python(install_timeout_s: float) -> tuple[Path | None, str]:
    """The python of the benchmark's environment holding supervisord (created and installed if
    missing), or None and why it could not be had."""
    folder = environment_dir()
    python = folder / "bin" / "python"
    if python.exists() and _has(python, "supervisor"):
        return python, ""
    try:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True, timeout=install_timeout_s)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--timeout", "10", "--retries", "1", REQUIREMENT],
            check=True,
            timeout=install_timeout_s,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
    except (OSError, subprocess.SubprocessError) as error:
        return None, f"unavailable ({REQUIREMENT} could not be installed: {type(error).__name__})"
    return python, ""


def _has(python: Path, module: str) -> bool:
    probe = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return subprocess.run([str(python), "-c", probe], check=False).returncode == 0


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: Path) -> None:
        super().__init__("localhost")
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(self._path))


class UnixTransport(xmlrpc.client.Transport):
    """XML-RPC over supervisord's Unix socket, keeping the connection open between calls."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._path = path

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        connection = self._connection[1]
        if connection is None:
            connection = UnixHTTPConnection(self._path)
            self._connection = (host, connection)
        return connection


def supervisor_proxy(socket_path: Path) -> Any:
    return xmlrpc.client.ServerProxy("http://localhost", transport=UnixTransport(socket_path)).supervisor


def supervisor_config(folder: Path, programs: Mapping[str, str], logs: Mapping[str, Path]) -> str:
    """A config with each program (name -> command line, never started by itself); the output of
    those in `logs` goes to that flat file, stderr with it, never rotated."""
    sections = []
    for name, command in programs.items():
        section = f"[program:{name}]\ncommand={command}\n{CONFIG_COMMON}"
        if name in logs:
            section += (
                f"redirect_stderr=true\nstdout_logfile={logs[name]}\n"
                "stdout_logfile_maxbytes=0\nstdout_logfile_backups=0\n"
            )
        sections.append(section)
    return (
        f"[unix_http_server]\nfile={folder / 'sv.sock'}\n\n"
        f"[supervisord]\nnodaemon=true\nloglevel=warn\nlogfile={folder / 'supervisord.log'}\n"
        f"pidfile={folder / 'supervisord.pid'}\nchildlogdir={folder}\n\n"
        "[rpcinterface:supervisor]\n"
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n"
        + "\n".join(sections)
    )


def start_supervisord(python: Path, folder: Path, config: str, log: TextIO) -> tuple[psutil.Popen, Any]:
    """supervisord in the foreground with `config`, and an XML-RPC proxy once it answers."""
    config_path = folder / "supervisord.conf"
    config_path.write_text(config)
    process = psutil.Popen(
        [str(python), "-m", "supervisor.supervisord", "-c", str(config_path)],
        cwd=folder,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
    )
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    while True:
        proxy = supervisor_proxy(folder / "sv.sock")  # a failed request spoils its transport
        try:
            if proxy.getState()["statename"] == "RUNNING":
                return process, proxy
        except (OSError, xmlrpc.client.Fault, http.client.HTTPException):
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("supervisord did not start; see its log")
        time.sleep(POLL_S * 10)


def stop_and_wait(proxy: Any, names: list[str]) -> None:
    """Stop without XML-RPC's `wait`, polling the states: for stopping many at once."""
    for name in names:
        proxy.stopProcess(name, False)
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    while any(proxy.getProcessInfo(name)["statename"] != "STOPPED" for name in names):
        if time.monotonic() > deadline:
            raise TimeoutError(f"supervisord did not stop {names}")
        time.sleep(POLL_S)


def wait_for_exec(proxy: Any, name: str, executable: str) -> None:
    """supervisord reports RUNNING (startsecs=0) once it has forked, before the exec: a SIGTERM in
    that window is lost (the forked child still has supervisord's handlers) and the stop then
    waits stopwaitsecs for SIGKILL. Before a stop, wait until the exec happened."""
    link = f"/proc/{proxy.getProcessInfo(name)['pid']}/exe"
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    while os.readlink(link) != os.path.realpath(executable):
        if time.monotonic() > deadline:
            raise TimeoutError(f"supervisord's {name} did not exec {executable}")
        time.sleep(POLL_S)


def shutdown(process: psutil.Popen, proxy: Any) -> None:
    """Ask supervisord to stop its programs and exit; SIGKILL if it does not in time."""
    try:
        proxy.shutdown()
        process.wait(STARTUP_DEADLINE_S)
    except (OSError, xmlrpc.client.Fault, http.client.HTTPException, psutil.TimeoutExpired):
        process.kill()
        process.wait()
