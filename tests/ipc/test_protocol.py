from __future__ import annotations

import asyncio

import msgspec
import pytest

from pm_actors.api import ListProcesses, StartProcess
from pm_actors.errors import (
    WIRE_CLASSES,
    ErrorCode,
    InternalError,
    InvalidArgument,
    NotFound,
    ProtocolError,
    error_from_wire,
)
from pm_actors.ipc.protocol import (
    LENGTH_PREFIX,
    MAX_FRAME_BYTES,
    NIL_RESULT,
    PROTOCOL_VERSION,
    ErrorFrame,
    ErrorInfo,
    Hello,
    IncomingHello,
    IncomingRequestFrame,
    RequestFrame,
    ResponseFrame,
    Welcome,
    decode_client_frame,
    decode_request,
    decode_result,
    decode_server_frame,
    decode_token,
    encode_frame,
    encode_result,
    read_frame_body,
)
from pm_actors.results import DeletedProcess, ProcessList
from tests.ipc.support import run

START = StartProcess(name="web", command="/usr/bin/python3", args=["-m", "http.server"], env={"A": "1"})


def body_of(frame_bytes: bytes) -> bytes:
    (length,) = LENGTH_PREFIX.unpack(frame_bytes[: LENGTH_PREFIX.size])
    body = frame_bytes[LENGTH_PREFIX.size :]
    assert length == len(body)
    return body


async def read_from(data: bytes, eof: bool = True) -> bytes | None:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    if eof:
        reader.feed_eof()
    return await read_frame_body(reader)


def test_a_frame_is_a_big_endian_length_then_the_msgpack_body() -> None:
    hello = Hello(protocol_version=PROTOCOL_VERSION, token="t" * 32)
    data = encode_frame(hello)
    assert data[:4] == len(data[4:]).to_bytes(4, "big")
    assert msgspec.msgpack.decode(data[4:]) == {
        "frame": "hello",
        "protocol_version": PROTOCOL_VERSION,
        "token": "t" * 32,
    }


def test_hello_and_requests_decode_as_the_daemon_reads_them() -> None:
    hello = decode_client_frame(body_of(encode_frame(Hello(protocol_version=1, token="x"))))
    assert isinstance(hello, IncomingHello) and hello.protocol_version == 1
    assert decode_token(hello.token) == "x"
    incoming = decode_client_frame(body_of(encode_frame(RequestFrame(id=7, request=START))))
    assert isinstance(incoming, IncomingRequestFrame)
    assert incoming.id == 7
    assert decode_request(incoming.request) == START


def test_server_frames_round_trip() -> None:
    welcome = Welcome(protocol_version=1, daemon_pid=42, server_version="0.1.0")
    refusal = ErrorFrame(code="unauthorized", message="wrong token")
    assert decode_server_frame(body_of(encode_frame(welcome))) == welcome
    assert decode_server_frame(body_of(encode_frame(refusal))) == refusal


def test_a_result_travels_raw_and_decodes_with_the_request_result_type() -> None:
    result = ProcessList(processes=[])
    response = ResponseFrame(id=3, result=encode_result(ListProcesses(), result))
    decoded = decode_server_frame(body_of(encode_frame(response)))
    assert isinstance(decoded, ResponseFrame)
    assert decoded.error is None
    assert decode_result(ListProcesses(), decoded.result) == result


def test_an_error_response_carries_code_and_message_and_a_nil_result() -> None:
    response = ResponseFrame(id=4, error=ErrorInfo(code="not_found", message="no process named 'x'"))
    decoded = decode_server_frame(body_of(encode_frame(response)))
    assert isinstance(decoded, ResponseFrame)
    assert decoded.error == ErrorInfo(code="not_found", message="no process named 'x'")
    assert bytes(decoded.result) == bytes(NIL_RESULT)


def test_an_unknown_tool_is_an_invalid_argument_naming_it_and_the_known_tools() -> None:
    raw = msgspec.Raw(msgspec.msgpack.encode({"tool": "frobnicate"}))
    with pytest.raises(InvalidArgument) as caught:
        decode_request(raw)
    assert "'frobnicate'" in caught.value.message
    assert "list_processes" in caught.value.message


def test_an_invalid_field_is_an_invalid_argument_naming_the_field() -> None:
    raw = msgspec.Raw(msgspec.msgpack.encode({"tool": "start_process", "name": "bad name!", "command": "x"}))
    with pytest.raises(InvalidArgument, match=r"\$\.name"):
        decode_request(raw)


def test_garbage_and_wrong_shapes_are_protocol_errors_saying_why() -> None:
    with pytest.raises(ProtocolError, match="malformed"):
        decode_client_frame(b"\xc1\xc1\xc1")
    with pytest.raises(ProtocolError, match="Expected `object`, got `array`"):
        decode_client_frame(msgspec.msgpack.encode([1, 2]))
    with pytest.raises(ProtocolError, match="'nonsense'"):
        decode_server_frame(msgspec.msgpack.encode({"frame": "nonsense"}))


def test_a_result_of_the_wrong_type_is_refused_before_it_is_sent() -> None:
    with pytest.raises(InternalError, match="list_processes produced a DeletedProcess"):
        encode_result(ListProcesses(), DeletedProcess(name="x", deleted=True))


def test_a_result_that_does_not_match_its_request_is_a_protocol_error() -> None:
    raw = msgspec.Raw(msgspec.msgpack.encode({"unexpected": True}))
    with pytest.raises(ProtocolError, match="not a ProcessList"):
        decode_result(ListProcesses(), raw)


def test_a_frame_over_the_limit_is_refused_when_encoding() -> None:
    with pytest.raises(ProtocolError, match="exceeds the limit"):
        encode_frame(Hello(protocol_version=1, token="t" * MAX_FRAME_BYTES))


def test_reading_returns_the_body_and_none_at_a_clean_end() -> None:
    data = encode_frame(Hello(protocol_version=1, token="x"))
    assert run(read_from(data)) == data[4:]
    assert run(read_from(b"")) is None


def test_reading_refuses_an_oversized_length_without_waiting_for_the_body() -> None:
    prefix = LENGTH_PREFIX.pack(MAX_FRAME_BYTES + 1)
    with pytest.raises(ProtocolError, match=f"{MAX_FRAME_BYTES + 1} bytes, over the limit"):
        run(read_from(prefix, eof=False))


def test_a_connection_closing_inside_a_frame_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="length prefix"):
        run(read_from(b"\x00\x00"))
    with pytest.raises(ProtocolError, match="after 2 of a frame's 10 bytes"):
        run(read_from(LENGTH_PREFIX.pack(10) + b"ab"))


def test_a_wire_code_is_rebuilt_as_its_class_and_an_unknown_one_reads_as_internal() -> None:
    for code, error_class in WIRE_CLASSES.items():
        error = error_from_wire(code.value, "what happened")
        assert type(error) is error_class and error.code is code and error.message == "what happened"
    assert isinstance(error_from_wire("not_found", "gone"), NotFound)
    unknown = error_from_wire("from_the_future", "news")
    assert isinstance(unknown, InternalError)
    assert unknown.code is ErrorCode.INTERNAL
    assert unknown.message == "from_the_future: news"
    assert set(WIRE_CLASSES) == set(ErrorCode), "every code has a class to rebuild"
