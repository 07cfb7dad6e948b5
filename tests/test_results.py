"""Every result's text renders the whole result: many clients show the model only the text."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from pm_actors.api import REQUEST_TYPES
from pm_actors.results import number
from tests.mcp_shim.samples import SAMPLE_RESULTS

ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
RESULT_TYPES = sorted({kind.result_type for kind in REQUEST_TYPES}, key=lambda kind: kind.__name__)


def values_in(value: Any) -> Iterator[Any]:
    """Every value a program could read in a result, down to strings and numbers."""
    if isinstance(value, msgspec.Struct):
        for field in value.__struct_fields__:
            yield from values_in(getattr(value, field))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from values_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from values_in(item)
    elif isinstance(value, enum.Enum):
        yield value.value
    elif value is not None and not isinstance(value, bool) and value != 0:
        yield value  # a zero count (nothing unindexed, nothing cut) shows as the absence of its note


STREAM_LABELS = {"stdout": "out", "stderr": "err", "stdin": "in"}
"""How a page of lines shows each line's stream."""


def renderings(value: Any, text: str) -> set[str]:
    """The ways a value may be written in a text: a line's time under its day's heading, a
    stream by its short label, a code word with spaces."""
    if isinstance(value, float):
        return {number(value)}
    if isinstance(value, int):
        return {str(value), f"{value:,}"}
    if ISO_TIME.fullmatch(value) and value[:10] in text:
        return {value, value[11:23]}
    return {value, value.replace("_", " "), STREAM_LABELS.get(value, value)}


@pytest.mark.parametrize("result_type", RESULT_TYPES, ids=lambda kind: kind.__name__)
def test_the_text_of_a_result_shows_every_value_it_carries(result_type: type[msgspec.Struct]) -> None:
    for sample in SAMPLE_RESULTS[result_type]:
        text = sample.summary()  # type: ignore[attr-defined]
        missing = [
            value
            for value in values_in(sample)
            if not any(shown in text for shown in renderings(value, text))
        ]
        assert not missing, f"{result_type.__name__}.summary() leaves out {missing}:\n{text}"


@pytest.mark.parametrize("result_type", RESULT_TYPES, ids=lambda kind: kind.__name__)
def test_the_text_of_a_result_is_readable_not_json(result_type: type[msgspec.Struct]) -> None:
    for sample in SAMPLE_RESULTS[result_type]:
        text = sample.summary()  # type: ignore[attr-defined]
        assert not text.lstrip().startswith(("{", "[")) and '": ' not in text
