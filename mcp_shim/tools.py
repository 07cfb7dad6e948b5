"""The MCP tool list and the decoding of tool arguments, both derived from `pm_actors.api`.

Nothing here is declared twice: a tool's name is its request struct's tag, its description the
struct's docstring, its input and output schemas `msgspec.json.schema` of the request and result
structs, its hints the struct's `annotations`. Arguments are decoded into the very same struct,
because the SDK does not validate them against the input schema.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Mapping
from typing import Any

import mcp_types as types
import msgspec
from mcp.shared.exceptions import MCPError

from pm_actors.api import REQUEST_TYPES, RequestUnion, tool_name
from pm_actors.errors import InvalidArgument
from pm_actors.request_base import Request, pattern_meaning, split_validation_error

JsonSchema = dict[str, Any]

TAG_FIELD = "tool"
"""The msgspec tag of every request: it is the tool's name, never an argument the client sends."""


def _inlined_schema(struct_type: type[msgspec.Struct]) -> JsonSchema:
    """`msgspec.json.schema` with every `$ref` replaced by the definition it points at.

    MCP wants `{"type": "object", "properties": ...}` at the root, where msgspec puts a `$ref`
    into `$defs`; and not every client resolves references in a tool schema, so none is left.
    Our structs are not recursive, which makes inlining finite (a cycle is refused). OpenAPI's
    `discriminator` goes too: it names definitions that no longer exist. The root's tag
    property is dropped: it is the tool name, not an argument.
    """
    generated = msgspec.json.schema(struct_type)
    root: JsonSchema = _resolve(generated, generated.get("$defs", {}), ())
    root.pop("$defs", None)
    root.pop("title", None)
    _drop_property(root, TAG_FIELD)
    return root


def _resolve(node: Any, definitions: Mapping[str, JsonSchema], seen: tuple[str, ...]) -> Any:
    if isinstance(node, list):
        return [_resolve(item, definitions, seen) for item in node]
    if not isinstance(node, dict):
        return node
    reference = node.get("$ref")
    if isinstance(reference, str):
        name = reference.removeprefix("#/$defs/")
        if name in seen:
            raise TypeError(f"{name} refers to itself: a recursive schema cannot be inlined")
        return _resolve(definitions[name], definitions, (*seen, name))
    return {
        key: _resolve(value, definitions, seen)
        for key, value in node.items()
        if key not in ("$defs", "discriminator")
    }


def _drop_property(schema: JsonSchema, name: str) -> None:
    schema.get("properties", {}).pop(name, None)
    required = [field for field in schema.get("required", []) if field != name]
    if required:
        schema["required"] = required
    else:
        schema.pop("required", None)


def input_schema(request_type: type[Request]) -> JsonSchema:
    """The tool's input schema; its description is the tool's, so it is not repeated here."""
    schema = _inlined_schema(request_type)
    schema.pop("description", None)
    schema.setdefault("properties", {})
    return schema


def output_schema(request_type: type[Request]) -> JsonSchema:
    """The schema every successful result's structured content of this tool validates against.

    Lean where a client pays for it: the `mcp` package's client checks every result against
    this schema, in Python, and a field-by-field schema of each item of a list costs it ~5 ms
    for 50 processes (ten times its ping); so the items of a list are declared as objects whose
    description names their fields. A single record stays described field by field."""
    lean: JsonSchema = _lean_items(_inlined_schema(request_type.result_type))
    return lean


def _lean_items(node: Any) -> Any:
    if isinstance(node, list):
        return [_lean_items(item) for item in node]
    if not isinstance(node, dict):
        return node
    lean = {key: _lean_items(value) for key, value in node.items()}
    items = node.get("items")
    if isinstance(items, dict) and "properties" in items:
        what = items.get("description") or f"A {items.get('title', 'item')}."
        lean["items"] = {"type": "object", "description": f"{what} Fields: {', '.join(items['properties'])}."}
    return lean


def tool_title(name: str) -> str:
    """A human title from the tool name: `start_process` -> `Start process`."""
    return name.replace("_", " ").capitalize()


def _tool_definition(request_type: type[Request]) -> types.Tool:
    name = tool_name(request_type)
    hints = request_type.annotations
    return types.Tool(
        name=name,
        title=tool_title(name),
        description=inspect.cleandoc(request_type.__doc__ or ""),
        input_schema=input_schema(request_type),
        output_schema=output_schema(request_type),
        annotations=types.ToolAnnotations(
            title=tool_title(name),
            read_only_hint=hints.read_only,
            destructive_hint=hints.destructive,
            idempotent_hint=hints.idempotent,
            open_world_hint=False,
        ),
    )


REQUEST_TYPE_BY_TOOL: dict[str, type[Request]] = {tool_name(kind): kind for kind in REQUEST_TYPES}


@functools.cache
def tool_list() -> tuple[types.Tool, ...]:
    """Every tool, built on first use and kept: the list never changes while the shim runs, and
    building it (two schemas a tool, ~25 ms) need not delay the answer to `initialize`."""
    return tuple(_tool_definition(kind) for kind in REQUEST_TYPES)


@functools.cache
def _input_schemas() -> dict[str, JsonSchema]:
    return {tool.name: tool.input_schema for tool in tool_list()}


def tool_input_schema(name: str) -> JsonSchema | None:
    """The input schema of a tool by name, or None for a tool we do not have."""
    return _input_schemas().get(name)


# Decoding arguments ----------------------------------------------------------------------


def decode_arguments(name: str, arguments: Mapping[str, Any] | None) -> RequestUnion:
    """The request struct for a tool call; raises `InvalidArgument` naming the field at fault.

    An unknown tool name is a protocol error (`MCPError` INVALID_PARAMS, as the MCP spec
    says), not a tool result: there is no tool to have failed.
    """
    request_type = REQUEST_TYPE_BY_TOOL.get(name)
    if request_type is None:
        raise MCPError(code=types.INVALID_PARAMS, message=f"Unknown tool: {name}", data=name)
    given = dict(arguments or {})
    if TAG_FIELD in given:
        raise InvalidArgument(_unknown_argument(TAG_FIELD, _input_schemas()[name]))
    try:
        request: RequestUnion = msgspec.convert(given, request_type)  # type: ignore[assignment]
    except msgspec.ValidationError as error:
        raise InvalidArgument(explain_validation_error(str(error), _input_schemas()[name])) from None
    return request


_INVALID_ENUM = re.compile(r"^Invalid enum value (?P<value>.+)$")
_TYPE_NAME = re.compile(r"`(?P<types>[^`]+)`")

_TYPE_PHRASES = {
    "int": "an integer",
    "float": "a number",
    "str": "a string",
    "bool": "a boolean",
    "array": "an array",
    "object": "an object",
    "null": "null",
}


def explain_validation_error(message: str, schema: JsonSchema) -> str:
    """Rephrase a msgspec validation message for a model: which argument, what was expected.

    msgspec says e.g. "Expected `int` >= 1 - at `$.limit`"; the client reads
    "invalid argument `limit`: expected an integer >= 1. How many items at most (1 to 10000)."
    The field's own schema description is appended because it usually says what is allowed.
    """
    kind, where, problem = split_validation_error(message)
    if kind == "missing":
        return f"missing required argument `{where}`.{_described(schema, where)}"
    if kind == "unknown":
        return _unknown_argument(where, schema)
    if kind == "other":
        return f"invalid arguments: {message}{pattern_meaning(message)}"
    path = where.removeprefix(".")
    field = re.split(r"[.\[]", path, maxsplit=1)[0]
    if match := _INVALID_ENUM.match(problem):
        allowed = ", ".join(str(value) for value in _allowed_values(schema, field))
        explanation = f"{match['value']} is not one of {allowed}"
    else:
        explanation = _phrase_types(problem[:1].lower() + problem[1:]) + pattern_meaning(problem)
    return f"invalid argument `{path}`: {explanation}.{_described(schema, field)}"


def _unknown_argument(field: str, schema: JsonSchema) -> str:
    known = ", ".join(schema.get("properties", {}))
    if not known:
        return f"unknown argument `{field}`; this tool takes no arguments."
    return f"unknown argument `{field}`; this tool takes: {known}."


def _phrase_types(text: str) -> str:
    """`int` -> an integer, `float | null` -> a number or null."""

    def phrase(match: re.Match[str]) -> str:
        names = [name.strip() for name in match["types"].split("|")]
        return " or ".join(_TYPE_PHRASES.get(name, f"`{name}`") for name in names)

    return _TYPE_NAME.sub(phrase, text)


def _described(schema: JsonSchema, field: str) -> str:
    description = schema.get("properties", {}).get(field, {}).get("description")
    if not description:
        return ""
    return f" {description}" if description.endswith(".") else f" {description}."


def _allowed_values(schema: JsonSchema, field: str) -> list[Any]:
    """The enum of a property, looking through `anyOf` (an optional enum is `enum | null`)."""
    prop = schema.get("properties", {}).get(field, {})
    values: list[Any] = list(prop.get("enum", []))
    for option in prop.get("anyOf", []):
        values.extend(option.get("enum", []))
    return values
