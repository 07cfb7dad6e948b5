"""The shim's call path, through a real MCP client session against `build_server`.

The backend is a fake behind our own `Backend` seam; the daemon end to end is tested elsewhere.
Each test runs over both connection eras the SDK serves: `legacy` (the initialize handshake
over JSON-RPC streams, what stdio hosts speak today) and `auto` (the 2026 per-request path).
"""

from __future__ import annotations

import logging
from typing import Any

import mcp_types as types
import msgspec
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from pm_actors import api, group_requests, log_results, results
from pm_actors.errors import AlreadyRunning, DaemonUnavailable, InvalidArgument, LimitReached, error_from_wire
from pm_actors.ipc.session import resolve_cwd
from pm_actors.mcp_shim.failures import ERROR_META_KEY
from pm_actors.mcp_shim.tools import tool_list
from tests.mcp_shim.fakes import SHIM_CWD, FakeBackend, raising, with_client
from tests.mcp_shim.samples import MINIMAL_ARGUMENTS, sample_result


def call(backend: FakeBackend, mode: str, name: str, arguments: dict[str, Any]) -> types.CallToolResult:
    async def scenario(client: Client) -> types.CallToolResult:
        await client.list_tools()
        return await client.call_tool(name, arguments)

    return with_client(backend, mode, scenario)


def text_of(result: types.CallToolResult) -> str:
    assert len(result.content) == 1
    content = result.content[0]
    assert isinstance(content, types.TextContent)
    return content.text


# Listing ---------------------------------------------------------------------------------


def test_list_tools_returns_every_tool_with_its_schemas_and_hints(mode: str) -> None:
    async def scenario(client: Client) -> types.ListToolsResult:
        return await client.list_tools()

    listed = with_client(FakeBackend(), mode, scenario)
    assert [tool.name for tool in listed.tools] == [tool.name for tool in tool_list()]
    for sent, received in zip(tool_list(), listed.tools, strict=True):
        assert received.input_schema == sent.input_schema
        assert received.output_schema == sent.output_schema
        assert received.annotations == sent.annotations
        assert received.description == sent.description


# Success ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(MINIMAL_ARGUMENTS))
def test_every_tool_answers_with_content_the_client_validates(mode: str, name: str) -> None:
    """`call_tool` itself checks structured content against the output schema and raises."""
    result = call(FakeBackend(), mode, name, MINIMAL_ARGUMENTS[name])
    assert result.is_error is False
    assert isinstance(result.structured_content, dict)
    assert text_of(result)


def test_a_successful_call_carries_the_result_struct_and_its_summary(mode: str) -> None:
    backend = FakeBackend()
    result = call(backend, mode, "list_processes", {})
    listing = sample_result(results.ProcessList)
    assert backend.requests == [api.ListProcesses()]
    assert result.structured_content == msgspec.to_builtins(listing)
    assert text_of(result) == listing.summary()


def test_the_clients_validation_is_real_a_record_without_pid_is_rejected(mode: str) -> None:
    """Guards the test above: the client does validate against our schema, strictly."""

    async def scenario(client: Client) -> None:
        result = await client.call_tool("stop_process", {"name": "web"})
        assert isinstance(result.structured_content, dict)
        del result.structured_content["pid"]
        with pytest.raises(RuntimeError, match="pid"):
            await client.session.validate_tool_result("stop_process", result)

    with_client(FakeBackend(), mode, scenario)


# start_process and the working directory -------------------------------------------------


def test_start_process_without_cwd_runs_in_the_shims_working_directory(mode: str) -> None:
    backend = FakeBackend()
    result = call(backend, mode, "start_process", {"name": "web", "command": "python3"})
    assert backend.requests[0] == api.StartProcess(name="web", command="python3", cwd=SHIM_CWD)
    assert isinstance(result.structured_content, dict)
    assert result.structured_content["cwd"] == SHIM_CWD


def test_start_process_with_a_relative_cwd_is_anchored_at_the_shims_directory(mode: str) -> None:
    backend = FakeBackend()
    call(backend, mode, "start_process", {"name": "web", "command": "python3", "cwd": "services/api"})
    assert isinstance(backend.requests[0], api.StartProcess)
    assert backend.requests[0].cwd == f"{SHIM_CWD}/services/api"


def test_start_process_with_an_absolute_cwd_keeps_it(mode: str) -> None:
    backend = FakeBackend()
    call(backend, mode, "start_process", {"name": "web", "command": "python3", "cwd": "/srv/app"})
    assert isinstance(backend.requests[0], api.StartProcess)
    assert backend.requests[0].cwd == "/srv/app"


def test_start_process_with_a_name_alone_leaves_cwd_to_the_stored_definition(mode: str) -> None:
    backend = FakeBackend()
    call(backend, mode, "start_process", {"name": "web"})
    assert backend.requests[0] == api.StartProcess(name="web")


def test_group_members_declared_inline_run_in_the_shims_working_directory(mode: str) -> None:
    backend = FakeBackend()
    members = [{"name": "db", "command": "python3", "cwd": "db"}, {"name": "web"}]
    call(backend, mode, "create_group", {"name": "stack", "members": members})
    call(
        backend, mode, "add_to_group", {"group": "stack", "members": [{"name": "api", "command": "python3"}]}
    )
    created, added = backend.requests
    assert isinstance(created, group_requests.CreateGroup) and isinstance(added, group_requests.AddToGroup)
    assert [member.cwd for member in created.members] == [f"{SHIM_CWD}/db", None]
    assert added.members[0].cwd == SHIM_CWD


def test_resolve_cwd_expands_home_and_treats_empty_as_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/someone")
    assert resolve_cwd("~/code", SHIM_CWD) == "/home/someone/code"
    assert resolve_cwd("", SHIM_CWD) == SHIM_CWD
    assert resolve_cwd(None, SHIM_CWD) == SHIM_CWD


# Errors ----------------------------------------------------------------------------------


def test_a_bad_argument_is_an_error_result_naming_the_field(mode: str) -> None:
    backend = FakeBackend()
    result = call(backend, mode, "get_logs", {"name": "web", "limit": 0})
    assert result.is_error is True
    assert text_of(result).startswith("invalid_argument: invalid argument `limit`: expected an integer >= 1")
    assert backend.requests == []


def test_a_backend_error_keeps_its_code_and_message(mode: str) -> None:
    message = "web is already running (pid 4242); use restart_process to restart it"
    backend = FakeBackend(raising(AlreadyRunning(message)))
    result = call(backend, mode, "start_process", MINIMAL_ARGUMENTS["start_process"])
    assert result.is_error is True
    assert text_of(result) == f"already_running: {message}"
    assert result.structured_content is None
    assert result.meta is not None
    assert result.meta[ERROR_META_KEY] == {"code": "already_running", "message": message}


def test_a_backend_error_of_a_call_that_reports_progress_keeps_its_code(mode: str) -> None:
    """wait_for runs beside its progress reports: its error comes out as it came, not wrapped."""
    message = "invalid argument `pattern`: '(a+)+' repeats a repetition"
    backend = FakeBackend(raising(InvalidArgument(message)))
    result = call(backend, mode, "wait_for", {"name": "web", "until": "log_line", "pattern": "(a+)+"})
    assert result.is_error is True
    assert text_of(result) == f"invalid_argument: {message}"


def test_an_error_that_came_over_the_wire_keeps_the_remote_code(mode: str) -> None:
    error = error_from_wire("limit_reached", "50 processes are managed already")
    assert isinstance(error, LimitReached)
    result = call(FakeBackend(raising(error)), mode, "list_processes", {})
    assert text_of(result) == "limit_reached: 50 processes are managed already"


def test_an_unavailable_daemon_is_reported_with_its_reason(mode: str) -> None:
    error = DaemonUnavailable("no daemon answers at /run/d.sock and auto-start is off")
    result = call(FakeBackend(raising(error)), mode, "list_processes", {})
    assert result.is_error is True
    assert text_of(result) == "daemon_unavailable: no daemon answers at /run/d.sock and auto-start is off"


def test_an_unexpected_exception_is_internal_without_traceback(
    mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    backend = FakeBackend(raising(RuntimeError("secret detail from deep inside")))
    with caplog.at_level(logging.ERROR, logger="pm_actors.mcp_shim.failures"):
        result = call(backend, mode, "list_processes", {})
    text = text_of(result)
    assert result.is_error is True
    assert text.startswith("internal: ")
    assert "Traceback" not in text
    assert "secret detail" not in text
    assert "RuntimeError" not in text
    logged = [record for record in caplog.records if record.exc_info]
    assert logged, "the unexpected exception must be logged with its traceback"


def test_a_backend_answering_with_the_wrong_type_is_internal(mode: str) -> None:
    backend = FakeBackend(lambda request: sample_result(log_results.LogLines))
    result = call(backend, mode, "list_processes", {})
    assert result.is_error is True
    assert text_of(result).startswith("internal: ")


def test_an_unknown_tool_is_a_protocol_error(mode: str) -> None:
    backend = FakeBackend()

    async def scenario(client: Client) -> None:
        with pytest.raises(MCPError) as caught:
            await client.call_tool("format_disk", {})
        assert caught.value.code == types.INVALID_PARAMS

    with_client(backend, mode, scenario)
    assert backend.requests == []
