"""Resources through a real MCP client against the shim over a fake backend, in both eras."""

from __future__ import annotations

import json
from typing import Any

import mcp_types as types
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from pm_actors import api, error_requests
from pm_actors.errors import DaemonUnavailable, ProcessNotFound
from pm_actors.mcp_shim.resources import PROCESS_RESOURCES, RESOURCES, topics_of
from tests.mcp_shim.fakes import FakeBackend, answer_like_a_daemon, raising, with_client

FIXED_URIS = ["processes://list", "logs://recent", "errors://latest", "health://status", "metrics://summary"]
SAMPLE_NAMES = ["web", "worker", "job.1"]
SCHEMES = ("process", "logs", "errors")
"""The processes `answer_like_a_daemon` lists."""


def test_every_fixed_resource_and_three_per_process_are_listed_as_json(mode: str) -> None:
    async def scenario(client: Client) -> types.ListResourcesResult:
        return await client.list_resources()

    listed = with_client(FakeBackend(), mode, scenario)
    per_process = [f"{scheme}://{name}" for name in SAMPLE_NAMES for scheme in SCHEMES]
    assert [resource.uri for resource in listed.resources] == FIXED_URIS + per_process
    for resource in listed.resources:
        assert resource.mime_type == "application/json"
        assert resource.title and resource.description


def test_the_per_process_templates_are_listed(mode: str) -> None:
    async def scenario(client: Client) -> types.ListResourceTemplatesResult:
        return await client.list_resource_templates()

    listed = with_client(FakeBackend(), mode, scenario)
    assert [template.uri_template for template in listed.resource_templates] == [
        f"{scheme}://{{name}}" for scheme in SCHEMES
    ]


@pytest.mark.parametrize("uri", [*FIXED_URIS, *(f"{scheme}://web" for scheme in SCHEMES)])
def test_every_resource_reads_as_valid_json_with_its_mime_type(mode: str, uri: str) -> None:
    async def scenario(client: Client) -> types.ReadResourceResult:
        return await client.read_resource(uri)

    read = with_client(FakeBackend(), mode, scenario)
    (content,) = read.contents
    assert isinstance(content, types.TextResourceContents)
    assert content.uri == uri and content.mime_type == "application/json"
    assert isinstance(json.loads(content.text), dict)


def test_a_process_resource_is_what_get_process_info_answers(mode: str) -> None:
    backend = FakeBackend()

    async def scenario(client: Client) -> types.ReadResourceResult:
        return await client.read_resource("process://web")

    read = with_client(backend, mode, scenario)
    assert backend.requests == [api.GetProcessInfo(name="web")]
    content = read.contents[0]
    assert isinstance(content, types.TextResourceContents)
    info = json.loads(content.text)
    assert info["name"] == "web" and info["state"] == "running" and info["listening_ports"] == [8000]


def test_logs_recent_holds_the_newest_lines_of_every_process(mode: str) -> None:
    backend = FakeBackend()

    async def scenario(client: Client) -> types.ReadResourceResult:
        return await client.read_resource("logs://recent")

    read = with_client(backend, mode, scenario)
    content = read.contents[0]
    assert isinstance(content, types.TextResourceContents)
    document = json.loads(content.text)
    assert [entry["name"] for entry in document["processes"]] == SAMPLE_NAMES
    assert document["processes"][0]["lines"][0]["text"] == "Serving HTTP on 0.0.0.0 port 8000"
    tails = [request for request in backend.requests if isinstance(request, api.TailLogs)]
    assert sorted(request.name for request in tails) == sorted(SAMPLE_NAMES)


def test_the_error_resources_are_what_the_error_tools_answer_and_follow_the_errors_topic(mode: str) -> None:
    backend = FakeBackend()

    async def scenario(client: Client) -> list[dict[str, Any]]:
        documents = []
        for uri in ("errors://latest", "errors://web"):
            content = (await client.read_resource(uri)).contents[0]
            assert isinstance(content, types.TextResourceContents)
            documents.append(json.loads(content.text))
        return documents

    latest, web = with_client(backend, mode, scenario)
    assert backend.requests == [
        error_requests.GetLatestErrors(limit=10),
        error_requests.GetErrors(name="web", limit=20),
    ]
    assert latest["unresolved"] == 2 and web["errors"][0]["category"] == "module_not_found"
    assert topics_of("errors://latest") == {api.Topic("errors"), api.Topic("processes")}
    assert topics_of("errors://web") == {api.Topic("errors", "web")}


def test_a_process_that_ended_meanwhile_is_left_out_of_metrics_not_an_error(mode: str) -> None:
    def answer(request: api.RequestUnion) -> object:
        if isinstance(request, api.GetProcessStats):
            raise ProcessNotFound("no process named 'web'")
        return answer_like_a_daemon(request)

    async def scenario(client: Client) -> types.ReadResourceResult:
        return await client.read_resource("metrics://summary")

    content = with_client(FakeBackend(answer), mode, scenario).contents[0]
    assert isinstance(content, types.TextResourceContents)
    document = json.loads(content.text)
    assert document["processes"] == [] and document["system"]["cpu_count"] == 2


@pytest.mark.parametrize(
    "uri", ["test://nonexistent", "process://bad name!", "files://etc/passwd", "logs:/web"]
)
def test_a_uri_we_do_not_serve_is_resource_not_found_with_the_uri(mode: str, uri: str) -> None:
    async def scenario(client: Client) -> MCPError:
        with pytest.raises(MCPError) as caught:
            await client.read_resource(uri)
        return caught.value

    error = with_client(FakeBackend(), mode, scenario)
    assert error.code == types.INVALID_PARAMS
    assert error.error.data == {"uri": uri}


def test_a_process_that_does_not_exist_is_resource_not_found_saying_so(mode: str) -> None:
    backend = FakeBackend(raising(ProcessNotFound("no process named 'ghost'; list_processes shows them")))

    async def scenario(client: Client) -> MCPError:
        with pytest.raises(MCPError) as caught:
            await client.read_resource("logs://ghost")
        return caught.value

    error = with_client(backend, mode, scenario)
    assert error.code == types.INVALID_PARAMS and "no process named 'ghost'" in error.error.message
    assert error.error.data == {"uri": "logs://ghost"}


def test_an_unreachable_daemon_fails_a_read_with_the_reason_and_still_lists_the_fixed_ones(mode: str) -> None:
    backend = FakeBackend(raising(DaemonUnavailable("no daemon answers at /run/d.sock")))

    async def scenario(client: Client) -> tuple[types.ListResourcesResult, MCPError]:
        listed = await client.list_resources()
        with pytest.raises(MCPError) as caught:
            await client.read_resource("processes://list")
        return listed, caught.value

    listed, error = with_client(backend, mode, scenario)
    assert [resource.uri for resource in listed.resources] == FIXED_URIS
    assert error.code == types.INTERNAL_ERROR
    assert error.error.message == "daemon_unavailable: no daemon answers at /run/d.sock"


def test_the_new_revision_gets_cache_hints_live_resources_are_never_fresh() -> None:
    """`ttlMs`/`cacheScope` are 2026-07-28 fields: on the per-request path the results carry them."""

    async def scenario(
        client: Client,
    ) -> tuple[types.ListResourcesResult, types.ReadResourceResult, types.ListToolsResult]:
        return (
            await client.list_resources(),
            await client.read_resource("processes://list"),
            await client.list_tools(),
        )

    listed, read, tools = with_client(FakeBackend(), "auto", scenario)
    assert (listed.ttl_ms, listed.cache_scope) == (0, "private")
    assert (read.ttl_ms, read.cache_scope) == (0, "private")
    assert tools.ttl_ms is not None and tools.ttl_ms > 0 and tools.cache_scope == "public"


def test_every_resource_in_the_registry_names_its_topics() -> None:
    assert all(resource.topics for resource in RESOURCES)
    assert all(resource.topics("web") for resource in PROCESS_RESOURCES)
