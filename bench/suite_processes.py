"""Managing processes: memory and the status call with many children, calls through MCP, start, stop.

pm-actors is driven through its socket (`DaemonClient`, what the CLI uses), through a raw
JSON-RPC client of `pm-actors mcp` and through the `mcp` package's own client; supervisord
through XML-RPC. Each MCP figure is held against the same client's ping, measured in the
same session: the floor of any MCP call.
"""

from __future__ import annotations

import asyncio
import warnings

from bench_daemon import PM_ACTORS, SLEEP
from managers import Bench
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPDeprecationWarning
from peer import stop_and_wait, wait_for_exec
from raw_mcp import RawMcp
from report import Goal, Row, Sample, timed, timed_async

from pm_actors import api
from pm_actors.states import ProcessState

STOP_TIMEOUT_S = 5.0


def idle_names(count: int) -> list[str]:
    return [f"idle-{number:02d}" for number in range(count)]


def peer_programs(children: int) -> dict[str, str]:
    programs = {name: f"{SLEEP} 600" for name in idle_names(children)}
    programs["lat"] = f"{SLEEP} 60"
    return programs


async def measure(bench: Bench) -> None:
    sizes, client = bench.sizes, bench.pm.client
    names = idle_names(sizes.children)
    for name in names:
        await start(bench, name, "600")
    if bench.peer is not None:
        for name in names:
            bench.peer.proxy.startProcess(name, True)
    await asyncio.sleep(sizes.settle_s)
    many = f"with {sizes.children} children"
    peer_rss = None if bench.peer is None else Sample.of([bench.peer.rss_mb()], "MB")
    bench.peer_row(
        f"daemon RSS {many}", Sample.of([bench.pm.rss_mb()], "MB"), Goal.ratio_at_most(1.0), peer_rss, "RSS"
    )
    keeper = bench.pm.keeper_rss_mb()
    if keeper is not None:
        bench.report.add(Row("  keeper RSS (reported apart)", Sample.of([keeper], "MB"), Goal.context()))
    listing = api.ListProcesses()
    status = await timed_async(lambda: client.call(listing), sizes.latency_runs)
    peer_status = (
        None if bench.peer is None else timed(bench.peer.proxy.getAllProcessInfo, sizes.latency_runs)
    )
    bench.peer_row(
        f"status over the socket {many}", status, Goal.ratio_at_most(0.5), peer_status, "getAllProcessInfo"
    )
    with RawMcp([PM_ACTORS, "mcp"], bench.pm.environment, str(bench.pm.folder), bench.log) as raw:
        raw.initialize()
        raw_ping = timed(raw.ping, sizes.latency_runs)
        raw_list = timed(lambda: raw.call_tool("list_processes", {}), sizes.latency_runs)
        bench.report.add(
            Row(
                f"list_processes {many}, MCP raw JSON-RPC",
                raw_list,
                Goal.plus_at_most(1, "ms"),
                raw_ping,
                "ping",
            )
        )
        await sdk_list(bench, many)
        await asyncio.gather(*(client.call(api.StopProcess(name=name)) for name in names))
        if bench.peer is not None:
            stop_and_wait(bench.peer.proxy, names)
        await start_figures(bench, raw, raw_ping)
    await stop_figure(bench)


async def start(bench: Bench, name: str, seconds: str) -> None:
    request = api.StartProcess(name=name, command=SLEEP, args=[seconds], cwd=str(bench.pm.folder))
    record = await bench.pm.client.call(request)
    if record.state != ProcessState.RUNNING:
        raise RuntimeError(f"start_process {name} answered {record.state}")


async def sdk_list(bench: Bench, many: str) -> None:
    """list_processes through the `mcp` package's client, which checks every result against
    the tool's output schema: held against the same client's ping."""
    parameters = StdioServerParameters(
        command=PM_ACTORS, args=["mcp"], env=bench.pm.environment, cwd=str(bench.pm.folder)
    )
    async with Client(stdio_client(parameters, errlog=bench.log), mode="legacy") as sdk:
        with warnings.catch_warnings():  # ping is legacy-only in 2.x; here it is the transport's floor
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            ping = await timed_async(sdk.send_ping, bench.sizes.latency_runs)

        async def list_processes() -> None:
            result = await sdk.call_tool("list_processes", {})
            if result.is_error:
                raise RuntimeError(f"list_processes failed: {result.content}")

        listed = await timed_async(list_processes, bench.sizes.latency_runs)
    bench.report.add(
        Row(f"list_processes {many}, MCP SDK client", listed, Goal.ratio_at_most(2.0), ping, "ping")
    )


async def start_figures(bench: Bench, raw: RawMcp, raw_ping: Sample) -> None:
    """start_process until `running`, each followed by an untimed stop: through MCP against the
    ping, over the socket against supervisord's startProcess(wait=True)."""
    client, runs, folder = bench.pm.client, bench.sizes.latency_runs, str(bench.pm.folder)
    arguments = {"name": "lat", "command": SLEEP, "args": ["60"], "cwd": folder}

    def raw_start() -> None:
        if raw.call_tool("start_process", arguments)["state"] != "running":
            raise RuntimeError("start_process did not answer running")

    mcp_start = timed(raw_start, runs, after=lambda: raw.call_tool("stop_process", {"name": "lat"}))
    bench.report.add(
        Row("start_process until running, MCP raw", mcp_start, Goal.plus_at_most(1.5, "ms"), raw_ping, "ping")
    )

    async def stop_lat() -> None:
        await client.call(api.StopProcess(name="lat"))

    socket_start = await timed_async(lambda: start(bench, "lat", "60"), runs, after=stop_lat)
    peer_start = None
    if bench.peer is not None:
        proxy = bench.peer.proxy

        def peer_stop() -> None:
            wait_for_exec(proxy, "lat", SLEEP)
            stop_and_wait(proxy, ["lat"])

        peer_start = timed(lambda: proxy.startProcess("lat", True), runs, after=peer_stop)
    bench.peer_row(
        "start_process until running, socket", socket_start, Goal.context(), peer_start, "startProcess"
    )


async def stop_figure(bench: Bench) -> None:
    """Stop of a child that obeys SIGTERM (`sleep`), until the call answers it stopped; each
    followed by an untimed start."""
    client, runs = bench.pm.client, max(bench.sizes.latency_runs // 4, 1)
    await start(bench, "lat", "60")
    pm_stop = await timed_async(
        lambda: client.call(api.StopProcess(name="lat", timeout_s=STOP_TIMEOUT_S)),
        runs,
        after=lambda: start(bench, "lat", "60"),
    )
    await client.call(api.StopProcess(name="lat"))
    peer_stop = None
    if bench.peer is not None:
        proxy = bench.peer.proxy

        def peer_start() -> None:
            proxy.startProcess("lat", True)
            wait_for_exec(proxy, "lat", SLEEP)

        peer_start()
        peer_stop = timed(lambda: proxy.stopProcess("lat", True), runs, after=peer_start)
        proxy.stopProcess("lat", True)
    bench.peer_row(
        "stop_process, a child obeying SIGTERM", pm_stop, Goal.ratio_at_most(1.0), peer_stop, "stopProcess"
    )
