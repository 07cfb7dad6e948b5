"""The rules of the code's shape, checked: the vocabulary is the ground floor, the folders import
each other without a loop, actors ask each other only along a declared DAG, and every public
request has a handler.

The imports are read from the source (AST), so a rule broken in any module fails here, whether
or not a test happens to import that module.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest

import pm_actors.actors
from pm_actors.actors.base import DaemonActor
from pm_actors.actors.groups import HANDLERS as GROUP_HANDLERS
from pm_actors.actors.supervisor import HANDLERS, SupervisorActor
from pm_actors.api import REQUEST_TYPES, RequestUnion
from pm_actors.group_requests import GroupRequest

ROOT = Path(__file__).resolve().parent.parent
VOCABULARY = {
    "__init__",
    "api",
    "request_base",
    "group_requests",
    "error_requests",
    "results",
    "log_results",
    "group_results",
    "error_results",
    "specs",
    "client_regex",
    "states",
    "errors",
    "config",
    "definition",
    "keeper_protocol",
}
"""The shared types every other part speaks: `pm_actors.<name>` (and the package's version)."""

FOLDERS = {
    "pm_actors.actors": ROOT / "actors",
    "pm_actors.ipc": ROOT / "ipc",
    "pm_actors.mcp_shim": ROOT / "mcp_shim",
    "pm_actors.app": ROOT / "pm_actors" / "app",
}
ALLOWED_FOLDER_IMPORTS = {
    "pm_actors.actors": {"vocabulary"},
    "pm_actors.ipc": {"vocabulary"},
    "pm_actors.mcp_shim": {"vocabulary", "pm_actors.ipc", "pm_actors.logging_setup"},
    "pm_actors.app": {
        "vocabulary",
        "pm_actors.actors",
        "pm_actors.ipc",
        "pm_actors.mcp_shim",
        "pm_actors.logging_setup",
    },
}
"""Who may import whom, by folder: the vocabulary at the bottom, the entry points (`app`) on top."""

ACTORS_THAT_NEVER_ASK = {"LogWriterActor", "MetricsActor"}
"""Everyone may block on these two, so they must never block on anyone."""


def our_imports(path: Path, package: str) -> Iterator[str]:
    """Every `pm_actors...` module `path` imports, relative imports resolved against `package`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name.startswith("pm_actors"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                yield f"{base}.{node.module}" if node.module else base
            elif node.module == "pm_actors":  # `from pm_actors import keeper_protocol`: a module
                yield from (f"pm_actors.{alias.name}" for alias in node.names if alias.name != "__version__")
            elif node.module and node.module.startswith("pm_actors"):
                yield node.module


def layer_of(module: str) -> str:
    """The folder a module belongs to, or `vocabulary` for the shared types."""
    for folder in FOLDERS:
        if module == folder or module.startswith(folder + "."):
            return folder
    if module == "pm_actors":
        return "vocabulary"
    name = module.removeprefix("pm_actors.").split(".")[0]
    return "vocabulary" if name in VOCABULARY else module


def test_the_vocabulary_imports_nothing_of_ours_but_itself() -> None:
    for name in sorted(VOCABULARY):
        path = ROOT / "pm_actors" / f"{name}.py"
        for imported in our_imports(path, "pm_actors"):
            assert layer_of(imported) == "vocabulary", f"pm_actors/{name}.py imports {imported}"


@pytest.mark.parametrize("folder", sorted(FOLDERS))
def test_each_folder_imports_only_the_layers_below_it(folder: str) -> None:
    allowed = ALLOWED_FOLDER_IMPORTS[folder] | {folder}
    for path in sorted(FOLDERS[folder].rglob("*.py")):
        for imported in our_imports(path, folder):
            assert layer_of(imported) in allowed, f"{path.relative_to(ROOT)} imports {imported}"


def test_the_folder_rule_has_no_loop() -> None:
    assert_acyclic({folder: allowed - {"vocabulary"} for folder, allowed in ALLOWED_FOLDER_IMPORTS.items()})


def daemon_actor_classes() -> dict[str, type[DaemonActor]]:
    for module in pkgutil.iter_modules(pm_actors.actors.__path__, "pm_actors.actors."):
        importlib.import_module(module.name)
    found: dict[str, type[DaemonActor]] = {}
    pending: list[type[DaemonActor]] = [DaemonActor]
    while pending:
        for subclass in pending.pop().__subclasses__():
            found[subclass.__name__] = subclass
            pending.append(subclass)
    return found


def test_actors_ask_only_along_a_dag_and_the_writer_and_metrics_ask_nobody() -> None:
    actors = daemon_actor_classes()
    assert {
        "SupervisorActor",
        "ProcessActor",
        "LogWriterActor",
        "LogReaderActor",
        "WaitActor",
        "GroupActor",
    } <= set(actors)
    graph = {name: set(actor.may_ask) for name, actor in actors.items()}
    for name, targets in graph.items():
        assert targets <= set(actors), f"{name} may ask unknown actors {targets - set(actors)}"
    for name in ACTORS_THAT_NEVER_ASK:
        assert graph[name] == set(), f"{name} must never ask anyone"
    assert_acyclic(graph)


def test_no_actor_calls_ask_but_through_the_checked_base_method() -> None:
    """`DaemonActor.ask` checks `may_ask`; a raw `ref.ask(...)` would slip past the rule. Only the
    actor system (not an actor: the outside world asking the supervisor) asks directly."""
    for path in sorted((ROOT / "actors").glob("*.py")):
        if path.name in ("base.py", "system.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "ask"
            ):
                receiver = node.func.value
                assert isinstance(receiver, ast.Name) and receiver.id == "self", (
                    f"{path.name}:{node.lineno} asks without DaemonActor.ask"
                )


def test_every_request_type_is_in_the_union_once_and_has_a_supervisor_handler() -> None:
    assert len(set(REQUEST_TYPES)) == len(REQUEST_TYPES) > 0
    assert set(REQUEST_TYPES) == set(RequestUnion.__args__)
    assert set(HANDLERS) == set(REQUEST_TYPES)
    for request_type, handler in HANDLERS.items():
        parameters = list(inspect.signature(handler).parameters)
        assert parameters[:1] == ["self"], f"the handler of {request_type.__name__} is not a method"


def test_the_supervisor_hands_every_group_request_to_the_group_actor_which_has_its_handler() -> None:
    group_requests = set(typing.get_args(GroupRequest))
    assert set(GROUP_HANDLERS) == group_requests
    assert {HANDLERS[request_type] for request_type in group_requests} == {SupervisorActor._to_groups}


def assert_acyclic(graph: dict[str, set[str]]) -> None:
    """Fail naming a cycle if `graph` (node -> nodes it points at) has one."""
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        if state.get(node) == "done":
            return
        if state.get(node) == "visiting":
            cycle = [*path[path.index(node) :], node]
            raise AssertionError(f"a loop: {' -> '.join(cycle)}")
        state[node] = "visiting"
        for target in sorted(graph.get(node, set())):
            visit(target, [*path, node])
        state[node] = "done"

    for node in sorted(graph):
        visit(node, [])


def test_the_loop_finder_finds_a_loop() -> None:
    with pytest.raises(AssertionError, match="a -> b -> a"):
        assert_acyclic({"a": {"b"}, "b": {"a"}})
    assert_acyclic({"a": {"b"}, "b": set()})
