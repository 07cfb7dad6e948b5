"""The tool list and argument decoding derived from `pm_actors.api`."""

from __future__ import annotations

import inspect
from typing import Any

import jsonschema
import mcp_types as types
import msgspec
import pytest
from jsonschema import Draft202012Validator
from mcp.shared.exceptions import MCPError

from pm_actors import api, request_base, results, specs
from pm_actors.errors import ErrorCode, InvalidArgument
from pm_actors.mcp_shim import tools
from tests.mcp_shim.samples import MINIMAL_ARGUMENTS, SAMPLE_RESULTS

TOOL_NAMES = [api.tool_name(kind) for kind in api.REQUEST_TYPES]
TOOL_BY_NAME = {tool.name: tool for tool in tools.tool_list()}


def request_type_of(name: str) -> type[request_base.Request]:
    return tools.REQUEST_TYPE_BY_TOOL[name]


def required_fields(struct_type: type[msgspec.Struct]) -> set[str]:
    return {field.name for field in msgspec.structs.fields(struct_type) if field.required}


def field_names(struct_type: type[msgspec.Struct]) -> set[str]:
    return {field.name for field in msgspec.structs.fields(struct_type)}


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


# The tool list ---------------------------------------------------------------------------


def test_there_is_one_tool_per_request_type_in_the_same_order() -> None:
    assert [tool.name for tool in tools.tool_list()] == TOOL_NAMES
    assert len(set(TOOL_NAMES)) == len(TOOL_NAMES)


@pytest.mark.parametrize("name", TOOL_NAMES)
def test_description_is_the_cleaned_docstring(name: str) -> None:
    tool = TOOL_BY_NAME[name]
    assert tool.description == inspect.cleandoc(request_type_of(name).__doc__ or "")
    assert tool.description
    assert not any(line.startswith(" ") for line in tool.description.splitlines())


@pytest.mark.parametrize("name", TOOL_NAMES)
def test_input_schema_is_an_object_at_the_root_without_the_tag(name: str) -> None:
    schema = TOOL_BY_NAME[name].input_schema
    assert schema["type"] == "object"
    assert "$ref" not in schema
    assert isinstance(schema["properties"], dict)
    assert "tool" not in schema["properties"]
    assert "tool" not in schema.get("required", [])
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize("name", TOOL_NAMES)
def test_input_schema_properties_and_required_match_the_request_struct(name: str) -> None:
    schema = TOOL_BY_NAME[name].input_schema
    kind = request_type_of(name)
    assert set(schema["properties"]) == field_names(kind)
    assert set(schema.get("required", [])) == required_fields(kind)


@pytest.mark.parametrize("name", TOOL_NAMES)
def test_input_schema_is_valid_draft_2020_12(name: str) -> None:
    Draft202012Validator.check_schema(TOOL_BY_NAME[name].input_schema)


def test_minimal_arguments_cover_every_tool() -> None:
    assert set(MINIMAL_ARGUMENTS) == set(TOOL_NAMES)


@pytest.mark.parametrize("name", TOOL_NAMES)
def test_minimal_arguments_satisfy_the_schema_and_decode(name: str) -> None:
    validator(TOOL_BY_NAME[name].input_schema).validate(MINIMAL_ARGUMENTS[name])
    assert isinstance(tools.decode_arguments(name, MINIMAL_ARGUMENTS[name]), request_type_of(name))


def test_start_process_requires_only_a_name_which_starts_the_stored_definition() -> None:
    assert TOOL_BY_NAME["start_process"].input_schema["required"] == ["name"]


def test_a_tool_without_arguments_has_empty_properties_and_no_required_list() -> None:
    schema = TOOL_BY_NAME["list_processes"].input_schema
    assert schema["properties"] == {}
    assert "required" not in schema


def test_schemas_carry_field_descriptions_and_constraints() -> None:
    properties = TOOL_BY_NAME["get_logs"].input_schema["properties"]
    assert properties["limit"]["minimum"] == 1
    assert properties["limit"]["maximum"] == request_base.MAX_LIMIT
    assert properties["limit"]["default"] == request_base.DEFAULT_LIMIT
    assert properties["name"]["pattern"] == specs.NAME_PATTERN
    assert "description" in properties["name"]


@pytest.mark.parametrize("name", TOOL_NAMES)
def test_every_schema_is_an_object_with_every_reference_inlined(name: str) -> None:
    for schema in (TOOL_BY_NAME[name].input_schema, TOOL_BY_NAME[name].output_schema):
        assert schema is not None
        assert schema["type"] == "object"
        assert _refs_in(schema) == [] and "$defs" not in schema
        assert "discriminator" not in msgspec.json.encode(schema).decode()


def test_every_result_type_has_samples() -> None:
    assert {kind.result_type for kind in api.REQUEST_TYPES} <= set(SAMPLE_RESULTS)


@pytest.mark.parametrize("name", TOOL_NAMES)
def test_output_schema_validates_every_realistic_result(name: str) -> None:
    schema = TOOL_BY_NAME[name].output_schema
    assert schema is not None
    check = validator(schema)
    for sample in SAMPLE_RESULTS[request_type_of(name).result_type]:
        check.validate(msgspec.to_builtins(sample))


def test_output_schema_rejects_a_record_missing_a_required_field() -> None:
    schema = TOOL_BY_NAME["stop_process"].output_schema
    assert schema is not None
    record = msgspec.to_builtins(SAMPLE_RESULTS[results.ProcessRecord][0])
    del record["pid"]
    with pytest.raises(jsonschema.ValidationError, match="pid"):
        validator(schema).validate(record)


def test_output_schema_rejects_an_unknown_state_of_a_record() -> None:
    schema = TOOL_BY_NAME["stop_process"].output_schema
    assert schema is not None
    record = msgspec.to_builtins(SAMPLE_RESULTS[results.ProcessRecord][0])
    record["state"] = "sleeping"
    with pytest.raises(jsonschema.ValidationError):
        validator(schema).validate(record)


def test_the_items_of_a_list_are_objects_whose_description_names_their_fields() -> None:
    """A client validating 50 records field by field pays ~5 ms a call; an object check is cheap."""
    schema = TOOL_BY_NAME["list_processes"].output_schema
    assert schema is not None
    items = schema["properties"]["processes"]["items"]
    assert set(items) == {"type", "description"} and items["type"] == "object"
    assert all(field in items["description"] for field in ("name", "state", "pid", "health"))
    listing = msgspec.to_builtins(SAMPLE_RESULTS[results.ProcessList][0])
    listing["processes"] = "not a list"
    with pytest.raises(jsonschema.ValidationError):
        validator(schema).validate(listing)


def _refs_in(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs_in(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs_in(value)]
    return []


# Annotations -----------------------------------------------------------------------------


def hints(name: str) -> types.ToolAnnotations:
    annotations = TOOL_BY_NAME[name].annotations
    assert annotations is not None
    return annotations


@pytest.mark.parametrize("name", ["list_processes", "get_logs", "tail_logs", "search_logs"])
def test_reading_tools_are_read_only(name: str) -> None:
    assert hints(name).read_only_hint is True
    assert hints(name).destructive_hint is False


@pytest.mark.parametrize("name", ["stop_process", "restart_process", "kill_process", "delete_process"])
def test_tools_that_end_or_remove_things_are_destructive(name: str) -> None:
    assert hints(name).read_only_hint is False
    assert hints(name).destructive_hint is True


def test_stop_process_is_idempotent_and_start_process_is_not() -> None:
    assert hints("stop_process").idempotent_hint is True
    assert hints("start_process").idempotent_hint is False
    assert hints("start_process").destructive_hint is False


@pytest.mark.parametrize("name", TOOL_NAMES)
def test_every_tool_is_closed_world_and_has_a_human_title(name: str) -> None:
    assert hints(name).open_world_hint is False
    assert hints(name).title == TOOL_BY_NAME[name].title
    assert TOOL_BY_NAME[name].title == name.replace("_", " ").capitalize()


@pytest.mark.parametrize("name", TOOL_NAMES)
def test_annotations_mirror_the_request_struct(name: str) -> None:
    declared = request_type_of(name).annotations
    assert (hints(name).read_only_hint, hints(name).destructive_hint, hints(name).idempotent_hint) == (
        declared.read_only,
        declared.destructive,
        declared.idempotent,
    )


# Decoding arguments ----------------------------------------------------------------------


def test_decoding_fills_defaults() -> None:
    request = tools.decode_arguments("get_logs", {"name": "web"})
    assert request == api.GetLogs(name="web", after_id=0, limit=request_base.DEFAULT_LIMIT, stream=None)


def test_no_arguments_at_all_decode_for_a_tool_that_takes_none() -> None:
    assert tools.decode_arguments("list_processes", None) == api.ListProcesses()


def test_an_unknown_tool_is_a_protocol_error_not_an_invalid_argument() -> None:
    with pytest.raises(MCPError) as caught:
        tools.decode_arguments("format_disk", {})
    assert caught.value.code == types.INVALID_PARAMS
    assert "format_disk" in caught.value.message


@pytest.mark.parametrize(
    ("name", "arguments", "expected"),
    [
        ("get_logs", {"name": "web", "limit": 0}, "invalid argument `limit`: expected an integer >= 1"),
        ("get_logs", {"name": "web", "limit": 10_001}, "argument `limit`: expected an integer <= 10000"),
        ("get_logs", {"name": "web", "limit": "5"}, "argument `limit`: expected an integer, got a string"),
        ("get_logs", {"name": "web", "limit": True}, "argument `limit`: expected an integer, got a boolean"),
        ("get_logs", {}, "missing required argument `name`"),
        ("get_logs", {"name": "bad name"}, "invalid argument `name`: expected a string matching regex"),
        (
            "get_logs",
            {"name": "web", "stream": "stdfoo"},
            "invalid argument `stream`: 'stdfoo' is not one of",
        ),
        ("kill_process", {"name": "web", "signal": "SIGFOO"}, "'SIGFOO' is not one of SIGCONT, SIGHUP"),
        ("start_process", {"name": "web", "command": ""}, "invalid argument `command`: expected a string of"),
        ("start_process", {"name": "w", "command": "x", "args": "-v"}, "`args`: expected an array, got a"),
        ("start_process", {"name": "w", "command": "x", "args": [1]}, "`args[0]`: expected a string, got an"),
        ("start_process", {"name": "w", "command": "x", "env": {"A": 1}}, "`env[...]`: expected a string"),
        ("stop_process", {"name": "web", "timeout_s": "soon"}, "`timeout_s`: expected a number or null"),
        ("get_logs", {"name": "web", "page": 2}, "unknown argument `page`; this tool takes: name, after_id"),
        ("list_processes", {"tool": "get_logs"}, "unknown argument `tool`; this tool takes no arguments"),
    ],
)
def test_invalid_arguments_name_the_field_and_what_was_expected(
    name: str, arguments: dict[str, Any], expected: str
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        tools.decode_arguments(name, arguments)
    assert caught.value.code == ErrorCode.INVALID_ARGUMENT
    assert expected in caught.value.message


def test_an_invalid_argument_message_adds_the_field_description() -> None:
    with pytest.raises(InvalidArgument) as caught:
        tools.decode_arguments("get_logs", {"name": "web", "limit": 0})
    assert caught.value.message.endswith("How many items at most (1 to 10000).")


def test_allowed_values_of_an_optional_enum_are_listed() -> None:
    with pytest.raises(InvalidArgument) as caught:
        tools.decode_arguments("get_logs", {"name": "web", "stream": "stdfoo"})
    assert "stderr, stdin, stdout" in caught.value.message
