"""A raw JSON-RPC client of an MCP server over stdio: newline-delimited JSON, one request at a time.

It validates nothing and builds no objects beyond `json.loads`, so a call's time is the
server's plus the pipes': the floor any client pays. Used for the MCP latency figures and for
the start-up figure (spawn until `initialize` is answered).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

PROTOCOL_VERSION = "2025-11-25"
CLOSE_TIMEOUT_S = 10.0

MINIMAL_SERVER = """\
import anyio
from mcp.server import Server
from mcp.server.stdio import stdio_server


async def main():
    server = Server("minimal")
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


anyio.run(main)
"""
"""The floor of the start-up figure: a low-level `Server` of the same SDK answering initialize."""


class RawMcp:
    """One server process and its stdio; `request` sends and returns the result of one call."""

    def __init__(self, command: Sequence[str], env: Mapping[str, str], cwd: str, errlog: TextIO) -> None:
        self.process = subprocess.Popen(
            list(command),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errlog,
            env=dict(env),
            cwd=cwd,
        )
        self._next_id = 0

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message).encode() + b"\n")
        self.process.stdin.flush()

    def request(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """The result of `method`; notifications from the server on the way are skipped."""
        self._next_id += 1
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": self._next_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        assert self.process.stdout is not None
        while True:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError(f"the MCP server closed its output during {method}")
            answer = json.loads(line)
            if answer.get("id") != self._next_id:
                continue
            if "error" in answer:
                raise RuntimeError(f"{method} failed: {answer['error']}")
            return answer["result"]

    def initialize(self) -> None:
        self.request(
            "initialize",
            {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "pm-actors-bench", "version": "1"},
            },
        )
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def ping(self) -> None:
        self.request("ping")

    def call_tool(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        result = self.request("tools/call", {"name": name, "arguments": arguments})
        if result.get("isError"):
            raise RuntimeError(f"{name} failed: {result['content'][0]['text']}")
        structured: dict[str, Any] = result["structuredContent"]
        return structured

    def close(self) -> None:
        """Close its stdin (an MCP server's signal to end), then wait; kill it if it lingers."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(CLOSE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> RawMcp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def seconds_to_initialize(command: Sequence[str], env: Mapping[str, str], cwd: str, errlog: TextIO) -> float:
    """From spawning the server until its answer to `initialize` is read."""
    started = time.perf_counter()
    with RawMcp(command, env, cwd, errlog) as server:
        server.initialize()
        return time.perf_counter() - started
