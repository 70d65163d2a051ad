"""The event-stream decoder (checked against botocore's) and ConverseStream events -> chunks."""

from __future__ import annotations

import struct
import uuid
import zlib
from typing import Any

import orjson
import pytest
from botocore.eventstream import EventStreamBuffer  # type: ignore[import-untyped]

from corral.core.errors import UpstreamBadResponse
from corral.core.types import ReasoningDelta, ToolCallDelta
from corral.providers._bedrock_stream import EventStreamDecoder, StreamState
from corral.simulator.bedrock_dialect import event, exception, frame


def botocore_decode(data: bytes) -> list[tuple[dict[str, Any], bytes]]:
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return [(m.headers, m.payload) for m in buffer]


def test_simulator_frames_decode_the_same_here_and_in_botocore() -> None:
    data = (event("messageStart", {"role": "assistant"})
            + event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hé"}})
            + exception("throttlingException", "slow down"))
    ours = [(m.headers, m.payload) for m in list(EventStreamDecoder("br").feed(data))]
    assert ours == botocore_decode(data)
    assert ours[0][0] == {":event-type": "messageStart", ":content-type": "application/json",
                          ":message-type": "event"}
    assert orjson.loads(ours[1][1])["delta"] == {"text": "Hé"}
    assert ours[2][0][":exception-type"] == "throttlingException"


def test_frames_split_anywhere_come_out_whole() -> None:
    data = b"".join(event("contentBlockDelta", {"delta": {"text": f"w{i}"}}) for i in range(5))
    decoder = EventStreamDecoder("br")
    got = []
    for i in range(len(data)):  # one byte at a time
        got += list(decoder.feed(data[i:i + 1]))
    assert [orjson.loads(m.payload)["delta"]["text"] for m in got] == [f"w{i}" for i in range(5)]
    assert decoder.pending == 0


def _typed_header_frame() -> bytes:
    """Every header value type, built by hand (the simulator only writes strings)."""
    def h(name: str, kind: int, raw: bytes) -> bytes:
        return bytes([len(name)]) + name.encode() + bytes([kind]) + raw

    the_uuid = uuid.UUID("12345678-1234-5678-1234-567812345678")
    head = b"".join([
        h("t", 0, b""), h("f", 1, b""), h("b", 2, struct.pack(">b", -2)), h("s", 3, struct.pack(">h", 300)),
        h("i", 4, struct.pack(">i", 70000)), h("l", 5, struct.pack(">q", 2**40)),
        h("y", 6, struct.pack(">H", 3) + b"\x00\x01\x02"), h("str", 7, struct.pack(">H", 2) + b"ok"),
        h("ts", 8, struct.pack(">q", 1_700_000_000_000)), h("u", 9, the_uuid.bytes),
    ])
    payload = b'{"x":1}'
    prelude = struct.pack(">II", 16 + len(head) + len(payload), len(head))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + head + payload
    return body + struct.pack(">I", zlib.crc32(body))


def test_every_header_type_decodes_as_botocore_reads_it() -> None:
    data = _typed_header_frame()
    (message,) = list(EventStreamDecoder("br").feed(data))
    ((theirs, payload),) = botocore_decode(data)
    assert message.payload == payload == b'{"x":1}'
    assert {k: v for k, v in message.headers.items() if k != "ts"} == {
        k: v for k, v in theirs.items() if k != "ts"}
    assert message.headers["u"] == uuid.UUID("12345678-1234-5678-1234-567812345678").bytes
    assert message.headers["ts"] == 1_700_000_000_000  # botocore turns it into a datetime


@pytest.mark.parametrize("where", ["message", "prelude", "length"])
def test_corrupt_frames_are_bad_responses(where: str) -> None:
    data = bytearray(event("contentBlockDelta", {"delta": {"text": "x"}}))
    if where == "message":
        data[-1] ^= 0x01
    elif where == "prelude":
        data[9] ^= 0x01
    else:  # a length beyond AWS's limits, with a prelude CRC that matches it
        data[0:8] = struct.pack(">II", 64 * 1024 * 1024, 10)
        data[8:12] = struct.pack(">I", zlib.crc32(bytes(data[0:8])))
    with pytest.raises(UpstreamBadResponse, match="corrupt"):
        list(EventStreamDecoder("br").feed(bytes(data)))


def test_good_frames_before_a_corrupt_one_still_come_out() -> None:
    bad = bytearray(event("contentBlockDelta", {"delta": {"text": "x"}}))
    bad[-1] ^= 0x01
    decoded = EventStreamDecoder("br").feed(event("messageStart", {"role": "assistant"}) + bytes(bad))
    assert next(decoded).headers[":event-type"] == "messageStart"
    with pytest.raises(UpstreamBadResponse):
        next(decoded)


def test_message_without_payload_or_headers() -> None:
    (message,) = list(EventStreamDecoder("br").feed(frame({}, b"")))
    assert message.headers == {} and message.payload == b""


def test_stream_state_text_tool_reasoning_and_usage() -> None:
    state = StreamState("br")
    events: list[tuple[str, dict[str, Any]]] = [
        ("messageStart", {"role": "assistant"}),
        ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "Hm."}}}),
        ("contentBlockDelta", {"contentBlockIndex": 0,
                               "delta": {"reasoningContent": {"signature": "sig"}}}),
        ("contentBlockStop", {"contentBlockIndex": 0}),
        ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "Sure."}}),
        ("contentBlockStart", {"contentBlockIndex": 2,
                               "start": {"toolUse": {"toolUseId": "t1", "name": "f"}}}),
        ("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"toolUse": {"input": '{"a":'}}}),
        ("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"toolUse": {"input": "1}"}}}),
        ("contentBlockStop", {"contentBlockIndex": 2}),
        ("contentBlockStart", {"contentBlockIndex": 3,
                               "start": {"toolUse": {"toolUseId": "t2", "name": "g"}}}),
        ("contentBlockStop", {"contentBlockIndex": 3}),
        ("messageStop", {"stopReason": "tool_use"}),
        ("metadata", {"usage": {"inputTokens": 5, "outputTokens": 9, "cacheReadInputTokens": 2},
                      "metrics": {"latencyMs": 10}}),
    ]
    chunks = [c for kind, e in events for c in state.feed(kind, e)]
    assert chunks[0].role == "assistant"
    assert [c.reasoning for c in chunks if c.reasoning] == [ReasoningDelta(0, text="Hm."),
                                                           ReasoningDelta(0, signature="sig")]
    assert [c.content for c in chunks if c.content] == ["Sure."]
    calls = [d for c in chunks for d in c.tool_calls or []]
    assert calls == [ToolCallDelta(0, "t1", "f", ""), ToolCallDelta(0, arguments='{"a":'),
                     ToolCallDelta(0, arguments="1}"), ToolCallDelta(1, "t2", "g", ""),
                     ToolCallDelta(1, arguments="{}")]
    assert chunks[-1].finish_reason == "tool_calls" and state.stopped
    assert state.usage is not None and (state.usage.input_tokens, state.usage.cached_tokens) == (7, 2)


def test_guardrail_stop_is_a_content_filter_finish() -> None:
    (chunk,) = StreamState("br").feed("messageStop", {"stopReason": "guardrail_intervened"})
    assert chunk.finish_reason == "content_filter"
