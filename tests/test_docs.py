"""The documents cannot drift from the code: README's tables of tools, resources, prompts and
settings list exactly what the registries and the config hold, and ARCHITECTURE.md names every
module, every actor message and every thread the daemon starts."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import pm_actors.actors.messages
import pm_actors.actors.observer_messages
from pm_actors.config import _variables
from pm_actors.mcp_shim.prompts import PROMPTS
from pm_actors.mcp_shim.resources import PROCESS_RESOURCES, RESOURCES
from pm_actors.mcp_shim.tools import tool_list

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
ARCHITECTURE = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
HOME = Path("/home/you")
LONG_DEFAULT = 60
"""A default longer than this (the deny-list) is described in words, not copied."""


def section(text: str, heading: str) -> str:
    """The text under a markdown heading (any level), up to the next heading of that level or higher."""
    match = re.search(rf"^(#+) {re.escape(heading)}\s*$", text, re.MULTILINE)
    assert match is not None, f"no heading {heading!r}"
    level = len(match[1])
    rest = text[match.end() :]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.MULTILINE)
    return rest[: end.start()] if end else rest


def table_rows(text: str) -> list[list[str]]:
    """The cells of every table row in `text` (header and separator rows left out)."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows[1:] if rows else rows


def first_column(text: str) -> dict[str, list[str]]:
    """Each row's first cell, unquoted, with the row's cells."""
    return {row[0].strip("`"): row for row in table_rows(text)}


def test_the_readme_tool_table_lists_every_tool_with_its_hints() -> None:
    rows = first_column(section(README, "Tools"))
    assert set(rows) == {tool.name for tool in tool_list()}
    for tool in tool_list():
        hints = rows[tool.name][-1]
        assert tool.annotations is not None
        assert ("read-only" in hints) == bool(tool.annotations.read_only_hint), tool.name
        assert ("destructive" in hints) == bool(tool.annotations.destructive_hint), tool.name


def test_the_readme_resource_table_lists_every_resource_and_template() -> None:
    rows = first_column(section(README, "Resources"))
    templates = {resource.template for resource in PROCESS_RESOURCES}
    assert set(rows) == {resource.uri for resource in RESOURCES} | templates


def test_the_readme_prompt_table_lists_every_prompt_with_its_arguments() -> None:
    rows = first_column(section(README, "Prompts"))
    assert set(rows) == {prompt.name for prompt in PROMPTS}
    for prompt in PROMPTS:
        for argument in prompt.arguments:
            assert f"`{argument.name}`" in rows[prompt.name][1], (prompt.name, argument.name)


def test_the_readme_configuration_table_lists_every_variable_with_its_default() -> None:
    rows = first_column(section(README, "Configuration"))
    variables = _variables(HOME, HOME / ".local" / "share", Path("/"))
    assert set(rows) == {variable.name for variable in variables}
    for variable in variables:
        cell = rows[variable.name][1]
        if variable.default is None:
            assert cell in ("unset", "generated"), variable.name
        elif len(variable.default) <= LONG_DEFAULT:
            default = variable.default.replace(str(HOME), "~")
            assert f"`{default}`" in cell, f"{variable.name}: {cell} does not give `{default}`"


def module_cells() -> set[str]:
    """The modules the ARCHITECTURE module table names: `folder/name.py`, or a bare `name.py`
    that follows one in the same cell (and so lives in its folder)."""
    named = set()
    for row in table_rows(section(ARCHITECTURE, "Packages")):
        folder = ""
        for token in re.findall(r"`([^`]+)`", row[0]):
            if "/" in token:
                folder = token.rsplit("/", 1)[0]
                named.add(token)
            else:
                named.add(f"{folder}/{token}")
    return named


def test_the_architecture_module_table_names_every_module() -> None:
    named = module_cells()
    modules = {
        str(path.relative_to(ROOT))
        for folder in ("pm_actors", "pm_actors/app", "actors", "actors/incidents", "ipc", "mcp_shim")
        for path in (ROOT / folder).glob("*.py")
        if path.name not in ("__init__.py", "__main__.py")
    }
    assert sorted(modules - named) == []
    assert sorted(named - modules) == [], "the table names modules that do not exist"


def test_architecture_names_every_actor_message() -> None:
    names = [
        name
        for module in (pm_actors.actors.messages, pm_actors.actors.observer_messages)
        for name, value in vars(module).items()
        if inspect.isclass(value) and value.__module__ == module.__name__
    ]
    assert names
    assert [name for name in names if not re.search(rf"\b{name}\b", ARCHITECTURE)] == []


@pytest.mark.parametrize(
    "thread", ["pm-pipe-reader", "pm-scheduler", "pm-keeper-link", "pm-health", "pm-search", "pm-read"]
)
def test_architecture_names_every_thread_the_daemon_starts(thread: str) -> None:
    sources = "\n".join(path.read_text(encoding="utf-8") for path in (ROOT / "actors").glob("*.py"))
    assert f'"{thread}"' in sources, f"no thread {thread} in the code any more"
    assert thread in section(ARCHITECTURE, "Inside the daemon: actors and threads")
