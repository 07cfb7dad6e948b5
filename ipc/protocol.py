"""The wire format between the daemon and its clients: framed msgpack envelopes.

A frame is a 4-byte big-endian body length and a msgpack body. The body is one envelope,
tagged by its `frame` field. A client first sends `Hello` and the daemon answers `Welcome`
(or `ErrorFrame`, then closes). After that the client sends `RequestFrame`s carrying the very
request structs of `pm_actors.api`, and the daemon answers each with a `ResponseFrame` of the
same id, in any order, so a client may pipeline. A client may also send a `SubscribeFrame`
naming the topics it wants (answered by a `ResponseFrame` of its id); from then on the daemon
pushes `EventFrame`s saying which of those topics changed (`ipc/subscriptions.py`).

A result travels as raw msgpack: the client decodes it with `type(request).result_type`,
which lets result structs stay untagged. The daemon decodes the envelope and the request in
two steps, so that a well-framed request it cannot understand (an unknown tool from a newer
client, a field out of range) is answered as an `invalid_argument` error on that request id
while the connection and any other requests on it carry on.
"""

from __future__ import annotations

import asyncio
import functools
import struct
from typing import Any

import msgspec

from pm_actors.api import REQUEST_TYPES, RequestUnion, Topic, tool_name
from pm_actors.errors import InternalError, InvalidArgument, ProtocolError, Unauthorized
from pm_actors.request_base import pattern_meaning

PROTOCOL_VERSION = 2
"""Bumped on any change an older peer would misread; both sides refuse a different version.
The hello and the welcome keep their fields across versions, so that a client of another
release learns enough from the welcome to restart the daemon on its own code."""


def check_protocol_version(client_version: int) -> None:
    """Refuse a client that speaks another protocol version than the daemon."""
    if client_version != PROTOCOL_VERSION:
        raise ProtocolError(
            f"the client speaks protocol version {client_version}, this daemon speaks {PROTOCOL_VERSION}: "
            "restart the daemon so that both come from the same pm-actors"
        )


MAX_FRAME_BYTES = 16 * 1024 * 1024
"""A result holds at most about 1 MiB of log text, so anything near this size is a bug or an
attack, refused before its body is read."""
MAX_HELLO_BYTES = 64 * 1024
"""A hello holds a version and a token."""
MAX_CLIENT_FRAME_BYTES = 4 * 1024 * 1024
"""The most the daemon reads of one frame from a client before refusing it (and closing): above
every request type's own limit, so that a request over its limit is answered `invalid_argument`
on its id, with the reason, and the connection carries on."""
DEFAULT_REQUEST_BYTES = 64 * 1024
"""A request of most types: names, numbers, a query or a pattern of at most 1,000 characters."""
REQUEST_BYTES = {"start_process": 1024 * 1024, "restart_process": 1024 * 1024}
"""Request types that carry a command line and an environment: the kernel takes about 2 MiB
of argv and environment together, part of it the daemon's own environment."""

_DECODING_FAILURES = (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError, RecursionError)
"""What msgspec raises for bytes that are not what we expect: a wrong shape, bad msgpack, a
string that is not UTF-8, values nested deeper than the interpreter's recursion limit."""

LENGTH_PREFIX = struct.Struct(">I")

NIL_RESULT = msgspec.Raw(b"\xc0")
"""msgpack nil: the `result` of a response that carries an error. msgspec cannot decode a
`Raw | None` union, so the field is always `Raw` and an error response holds nil."""


class ErrorInfo(msgspec.Struct, frozen=True):
    """A `PmError` on the wire. The code stays a plain string so that a code added by a newer
    daemon still decodes on an older client."""

    code: str
    message: str


class Frame(msgspec.Struct, frozen=True, tag_field="frame"):
    """Base of every envelope; the tag says which one a body is."""


class Hello(Frame, frozen=True, tag="hello"):
    protocol_version: int
    token: str


class IncomingHello(Frame, frozen=True, tag="hello"):
    """How the daemon reads a `Hello`: the token in a second step (`decode_token`), so that a
    token that is not text is refused as a wrong token, not as a broken frame."""

    protocol_version: int
    token: msgspec.Raw


class Welcome(Frame, frozen=True, tag="welcome"):
    protocol_version: int
    daemon_pid: int
    server_version: str
    settings: dict[str, str] = {}
    """The settings the daemon applies (`Config.daemon_settings`), for a client to compare."""
    kept: bool = False
    """Whether a keeper runs the daemon: then it can restart (SIGHUP) without stopping anything."""
    interpreter: str = ""
    """The Python the daemon runs on: a restart runs the pm-actors installed there."""


class RequestFrame(Frame, frozen=True, tag="request"):
    id: int
    request: RequestUnion


class IncomingRequestFrame(Frame, frozen=True, tag="request"):
    """How the daemon reads a `RequestFrame`: the request is decoded in a second step, so
    that a bad request is answered on its id instead of ending the connection."""

    id: int
    request: msgspec.Raw


class ResponseFrame(Frame, frozen=True, tag="response"):
    id: int
    result: msgspec.Raw = NIL_RESULT
    error: ErrorInfo | None = None


class SubscribeFrame(Frame, frozen=True, tag="subscribe"):
    """The topics this connection wants events for, replacing any earlier set (empty: none)."""

    id: int
    topics: frozenset[Topic]


class EventFrame(Frame, frozen=True, tag="event"):
    """Pushed by the daemon: these subscribed topics changed since the last event frame."""

    topics: list[Topic]


class ErrorFrame(Frame, frozen=True, tag="error"):
    """A protocol-level refusal (bad token, bad frame), sent right before the daemon closes."""

    code: str
    message: str


ServerFrame = Welcome | ResponseFrame | EventFrame | ErrorFrame
IncomingClientFrame = IncomingHello | IncomingRequestFrame | SubscribeFrame

# One encoder and one decoder per shape, reused: building them is the costly part. They are
# used from the event loop thread only.
_encoder = msgspec.msgpack.Encoder()
_client_frame_decoder: msgspec.msgpack.Decoder[IncomingHello | IncomingRequestFrame | SubscribeFrame] = (
    msgspec.msgpack.Decoder(IncomingClientFrame)
)
_token_decoder = msgspec.msgpack.Decoder(str)


class _ToolTag(msgspec.Struct):
    tool: str


_tool_decoder = msgspec.msgpack.Decoder(_ToolTag)
_server_frame_decoder: msgspec.msgpack.Decoder[Welcome | ResponseFrame | EventFrame | ErrorFrame] = (
    msgspec.msgpack.Decoder(ServerFrame)
)


@functools.cache
def _request_decoder() -> msgspec.msgpack.Decoder[RequestUnion]:
    """Built on first use: only the daemon decodes requests, and a decoder of the union of every
    request takes ~5 ms to build, which a client's start-up (`pm-actors mcp`) need not pay."""
    return msgspec.msgpack.Decoder(RequestUnion)


_result_decoders: dict[type[msgspec.Struct], msgspec.msgpack.Decoder[Any]] = {}


def encode_frame(frame: Frame) -> bytes:
    """The length-prefixed bytes of one envelope; a body over the limit is refused here."""
    buffer = bytearray(LENGTH_PREFIX.size)
    _encoder.encode_into(frame, buffer, LENGTH_PREFIX.size)
    body_length = len(buffer) - LENGTH_PREFIX.size
    if body_length > MAX_FRAME_BYTES:
        raise ProtocolError(f"a frame of {body_length} bytes exceeds the limit of {MAX_FRAME_BYTES} bytes")
    LENGTH_PREFIX.pack_into(buffer, 0, body_length)
    return bytes(buffer)


async def read_frame_body(
    reader: asyncio.StreamReader, max_bytes: int = MAX_FRAME_BYTES, first: bytes = b""
) -> bytes | None:
    """The body of the next frame, or None when the peer closed cleanly between frames.

    `first` is the frame's first byte when the caller has read it already (to time the wait
    for a frame apart from the frame itself). An oversized length is refused before the body
    is read, so a bad prefix costs nothing."""
    try:
        prefix = first + await reader.readexactly(LENGTH_PREFIX.size - len(first))
    except asyncio.IncompleteReadError as error:
        if not error.partial and not first:
            return None
        raise ProtocolError("the connection closed in the middle of a frame's length prefix") from None
    (body_length,) = LENGTH_PREFIX.unpack(prefix)
    if body_length > max_bytes:
        raise ProtocolError(f"a frame announced {body_length} bytes, over the limit of {max_bytes} bytes")
    try:
        return await reader.readexactly(body_length)
    except asyncio.IncompleteReadError as error:
        raise ProtocolError(
            f"the connection closed after {len(error.partial)} of a frame's {body_length} bytes"
        ) from None


def decode_client_frame(body: bytes) -> IncomingHello | IncomingRequestFrame | SubscribeFrame:
    """A frame from a client, as the daemon reads it."""
    try:
        return _client_frame_decoder.decode(body)
    except _DECODING_FAILURES as error:
        raise ProtocolError(
            f"the frame does not decode as a hello, a request or a subscribe: {_reason(error)}"
        ) from None


def decode_token(raw: msgspec.Raw) -> str:
    """The token of a hello; one that is not UTF-8 text cannot be the daemon's token."""
    try:
        return _token_decoder.decode(raw)
    except _DECODING_FAILURES:
        raise Unauthorized("wrong token: the token must be text (the daemon's token is hex digits)") from None


def _reason(error: BaseException) -> str:
    if isinstance(error, RecursionError):
        return "values nested too deeply"
    if isinstance(error, UnicodeDecodeError):
        return "a string is not valid UTF-8"
    return str(error)


def decode_server_frame(body: bytes) -> Welcome | ResponseFrame | EventFrame | ErrorFrame:
    """A frame from the daemon, as a client reads it."""
    try:
        return _server_frame_decoder.decode(body)
    except _DECODING_FAILURES as error:
        raise ProtocolError(f"the daemon sent a frame that does not decode: {_reason(error)}") from None


def decode_request(raw: msgspec.Raw) -> RequestUnion:
    """The request inside a request frame; what is wrong with it is the error's message."""
    _check_request_size(raw)
    try:
        return _request_decoder().decode(raw)
    except _DECODING_FAILURES as error:
        reason = _reason(error)
        raise InvalidArgument(
            f"invalid request: {reason}{pattern_meaning(reason)}{_known_tools_hint(error)}"
        ) from None


def _check_request_size(raw: msgspec.Raw) -> None:
    """A request over its type's size limit is refused before it is decoded."""
    if len(raw) <= DEFAULT_REQUEST_BYTES:
        return
    try:
        tool = _tool_decoder.decode(raw).tool
    except _DECODING_FAILURES:
        tool = "a request of unknown type"
    limit = REQUEST_BYTES.get(tool, DEFAULT_REQUEST_BYTES)
    if len(raw) > limit:
        raise InvalidArgument(
            f"invalid request: {tool} of {len(raw)} bytes is over its limit of {limit} bytes; "
            "a search query or a wait_for pattern holds at most 1,000 characters, and a command line "
            "what the kernel takes (see the tool's schema for each field's limit)"
        )


def _known_tools_hint(error: Exception) -> str:
    if "`$.tool`" not in str(error):
        return ""
    names = ", ".join(tool_name(request_type) for request_type in REQUEST_TYPES)
    return f" (this daemon knows: {names}; a newer client may need a restarted daemon)"


def encode_result(request: RequestUnion, result: object) -> msgspec.Raw:
    """The result of `request` as raw msgpack for a response, checked against its type."""
    expected = type(request).result_type
    if not isinstance(result, expected):
        raise InternalError(
            f"{tool_name(type(request))} produced a {type(result).__name__}, not a {expected.__name__}"
        )
    body = _encoder.encode(result)
    if len(body) > MAX_FRAME_BYTES - 64:  # room for the envelope around it
        raise InternalError(
            f"the result of {tool_name(type(request))} is {len(body)} bytes, over the frame limit"
        )
    return msgspec.Raw(body)


def decode_result(request: RequestUnion, raw: msgspec.Raw) -> Any:
    """The result struct of a response to `request`."""
    result_type = type(request).result_type
    decoder = _result_decoders.get(result_type)
    if decoder is None:
        decoder = _result_decoders[result_type] = msgspec.msgpack.Decoder(result_type)
    try:
        return decoder.decode(raw)
    except _DECODING_FAILURES as error:
        raise ProtocolError(
            f"the daemon's result for {tool_name(type(request))} is not a {result_type.__name__}: {error}"
        ) from None
