"""Prompts and completions through a real MCP client against the shim over a fake backend."""

from __future__ import annotations

import mcp_types as types
import msgspec
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from pm_actors import api, log_results
from pm_actors.errors import ProcessNotFound
from pm_actors.mcp_shim.briefing import NOTES_CHARS, PROMPT_BUDGET_CHARS, Section, briefing
from tests.mcp_shim.fakes import FakeBackend, answer_like_a_daemon, with_client
from tests.mcp_shim.samples import LINES

PROMPT_ARGUMENTS = {
    "debug_process": {"name": "web"},
    "optimize_performance": {},
    "setup_monitoring": {"name": "web"},
    "troubleshoot_group": {"processes": "web,worker"},
}


def prompt_text(result: types.GetPromptResult) -> str:
    (message,) = result.messages
    assert message.role == "user" and isinstance(message.content, types.TextContent)
    return message.content.text


def get_prompt(
    backend: FakeBackend, mode: str, name: str, arguments: dict[str, str]
) -> types.GetPromptResult:
    async def scenario(client: Client) -> types.GetPromptResult:
        return await client.get_prompt(name, arguments)

    return with_client(backend, mode, scenario)


def test_the_four_prompts_are_listed_with_title_description_and_arguments(mode: str) -> None:
    async def scenario(client: Client) -> types.ListPromptsResult:
        return await client.list_prompts()

    listed = with_client(FakeBackend(), mode, scenario)
    assert [prompt.name for prompt in listed.prompts] == list(PROMPT_ARGUMENTS)
    for prompt in listed.prompts:
        assert prompt.title and prompt.description and prompt.arguments
    by_name = {prompt.name: prompt for prompt in listed.prompts}
    assert [(a.name, a.required) for a in by_name["debug_process"].arguments or []] == [("name", True)]


@pytest.mark.parametrize("name", list(PROMPT_ARGUMENTS))
def test_every_prompt_renders_within_the_budget(mode: str, name: str) -> None:
    text = prompt_text(get_prompt(FakeBackend(), mode, name, PROMPT_ARGUMENTS[name]))
    assert text.startswith("# ") and "## Next steps" in text
    assert len(text) <= PROMPT_BUDGET_CHARS


def test_debug_process_starts_from_the_facts_of_the_process(mode: str) -> None:
    backend = FakeBackend()
    text = prompt_text(get_prompt(backend, mode, "debug_process", {"name": "web"}))
    assert "`web` is running" in text
    assert "GET http://127.0.0.1:8000/ answered 500" in text  # the last health check
    assert "memory 600 MB > limit 512 MB" in text  # a limit breach
    assert "Serving HTTP on 0.0.0.0 port 8000" in text  # an output line
    assert api.TailLogs(name="web", limit=40, stream="stderr") in backend.requests


def test_troubleshoot_group_shows_the_stderr_of_the_members_in_trouble_only(mode: str) -> None:
    backend = FakeBackend()
    text = prompt_text(get_prompt(backend, mode, "troubleshoot_group", {"processes": "worker,web,ghost"}))
    assert text.index("worker: crashed") < text.index("web: running")
    assert "Not managed" in text and "ghost" in text
    tails = [request.name for request in backend.requests if isinstance(request, api.TailLogs)]
    assert tails == ["worker"]


def test_huge_output_is_cut_to_the_budget_saying_where_to_read_on(mode: str) -> None:
    flood = log_results.LogTail(
        lines=[msgspec.structs.replace(LINES.lines[0], id=i, text="x" * 300) for i in range(200)],
        next_after_id=200,
        has_more=False,
    )

    def answer(request: api.RequestUnion) -> object:
        return flood if isinstance(request, api.TailLogs) else answer_like_a_daemon(request)

    text = prompt_text(get_prompt(FakeBackend(answer), mode, "debug_process", {"name": "web"}))
    assert len(text) <= PROMPT_BUDGET_CHARS
    assert "more lines (tail_logs" in text and "## Next steps" in text


def test_a_missing_or_unknown_process_is_an_invalid_params_error(mode: str) -> None:
    def answer(request: api.RequestUnion) -> object:
        if isinstance(request, api.GetProcessInfo):
            raise ProcessNotFound("no process named 'ghost'; list_processes shows the managed ones")
        return answer_like_a_daemon(request)

    async def scenario(client: Client) -> list[MCPError]:
        errors = []
        for name, arguments in [("debug_process", {}), ("debug_process", {"name": "ghost"}), ("nope", {})]:
            with pytest.raises(MCPError) as caught:
                await client.get_prompt(name, arguments)
            errors.append(caught.value)
        return errors

    missing, unknown_process, unknown_prompt = with_client(FakeBackend(answer), mode, scenario)
    assert missing.code == types.INVALID_PARAMS and "`name`" in missing.error.message
    assert unknown_process.code == types.INVALID_PARAMS and "'ghost'" in unknown_process.error.message
    assert unknown_prompt.code == types.INVALID_PARAMS and "Unknown prompt" in unknown_prompt.error.message


def test_a_briefing_leaves_out_whole_sections_it_has_no_room_for_and_says_so() -> None:
    sections = [Section("First", ["a" * 50]), Section("Second", ["b" * 50]), Section("Third", ["c"])]
    text = briefing("Title", "Task.", sections, ["step"], budget=NOTES_CHARS + 110)
    assert "## First" in text and "## Second" not in text
    assert "(Left out to fit the size budget: Second, Third.)" in text
    assert text.endswith("- step\n") and len(text) <= NOTES_CHARS + 110


# Completions ---------------------------------------------------------------------------------


def complete(
    mode: str, ref: types.PromptReference | types.ResourceTemplateReference, argument: str, value: str
) -> types.Completion:
    async def scenario(client: Client) -> types.CompleteResult:
        return await client.complete(ref=ref, argument={"name": argument, "value": value})

    return with_client(FakeBackend(), mode, scenario).completion


def test_a_process_name_argument_completes_to_the_names_that_start_with_it(mode: str) -> None:
    completion = complete(mode, types.PromptReference(name="debug_process"), "name", "W")
    assert completion.values == ["web", "worker"] and completion.total == 2 and completion.has_more is False


def test_a_resource_template_completes_its_name_variable(mode: str) -> None:
    completion = complete(mode, types.ResourceTemplateReference(uri="logs://{name}"), "name", "jo")
    assert completion.values == ["job.1"]


def test_a_list_of_processes_completes_its_last_name_without_repeating_earlier_ones(mode: str) -> None:
    completion = complete(mode, types.PromptReference(name="troubleshoot_group"), "processes", "web,")
    assert completion.values == ["web,worker", "web,job.1"]


def test_anything_else_completes_to_nothing(mode: str) -> None:
    assert complete(mode, types.PromptReference(name="test_prompt_with_arguments"), "arg1", "x").values == []
    assert complete(mode, types.ResourceTemplateReference(uri="process://{name}"), "other", "w").values == []
