"""A lone surrogate a client escaped in JSON ("\\ud800" inside tool-call arguments) must not make
detection fail (the fuzz test found a 500 on a block route) nor make the redacted request
unencodable for the provider."""

from __future__ import annotations

import json

import orjson

from corral.core.types import ChatRequest, Message, ToolCall
from corral.privacy.detect import PIIDetector
from corral.privacy.redact import redact_request, request_texts

ARGS = json.dumps({"note": "\ud800 mail jane@example.com"})  # ASCII, with the escape


def test_detection_accepts_lone_surrogates_and_keeps_offsets() -> None:
    text = json.loads(ARGS)["note"]
    spans = PIIDetector().detect(text)  # the models' tokenizers are what refused it
    assert "jane@example.com" in [text[s.start:s.end] for s in spans]


def test_redacted_arguments_with_a_lone_surrogate_stay_encodable() -> None:
    request = ChatRequest("m", [Message("assistant", None, tool_calls=[ToolCall("c1", "f", ARGS)]),
                                Message("user", "ok")])
    detector = PIIDetector(use_model=False)
    redaction = redact_request(request, [detector.detect(t) for t in request_texts(request)])
    arguments = redaction.request.messages[0].tool_calls[0].arguments
    assert "jane@example.com" not in arguments and "[EMAIL_1]" in json.loads(arguments)["note"]
    orjson.dumps(arguments)  # raises on a raw surrogate
