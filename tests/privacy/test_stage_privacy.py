"""The privacy stage with a fake detector and a recording fake `call_next`."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest

from corral.core.context import Caller, GroundingNote, RequestContext
from corral.core.errors import AllProvidersFailed, CorralError, UpstreamBadResponse, UpstreamRejected
from corral.core.pipeline import Pipeline, Result
from corral.core.stream import ChatStream
from corral.core.types import ChatChunk, ChatRequest, ChatResponse, Message, ToolCall, ToolCallDelta
from corral.privacy.policy import PrivacySettings
from corral.privacy.stage import (
    DetectionFailed,
    DetectionTooLarge,
    DetectorUnavailable,
    PIIDetected,
    PrivacyStage,
    detect_joined,
)
from corral.privacy.types import Span

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
NAME = re.compile(r"\bAlice Smith\b")
KEY = Caller("key_a1", "billing-app", "growth", frozenset({"inference"}))


class FakeDetector:
    """Emails (score 1.0) and one known name (score 0.6); records the thread it ran on."""

    def __init__(self, fail: bool = False) -> None:
        self.threads: set[str] = set()
        self.fail = fail

    def detect(self, text: str) -> list[Span]:
        self.threads.add(threading.current_thread().name)
        if self.fail:
            raise RuntimeError(f"model crashed on {text!r}")
        spans = [Span(m.start(), m.end(), "EMAIL") for m in EMAIL.finditer(text)]
        return spans + [Span(m.start(), m.end(), "PERSON", 0.6, "model") for m in NAME.finditer(text)]


class Upstream:
    """A fake `call_next`: echoes the last user text (and a tool call) whole or as a stream."""

    def __init__(self, error: CorralError | None = None, fail_mid_stream: CorralError | None = None):
        self.seen: list[ChatRequest] = []
        self.error = error
        self.fail_mid_stream = fail_mid_stream

    async def __call__(self, ctx: RequestContext) -> Result:
        self.seen.append(ctx.request)
        if self.error is not None:
            raise self.error
        text = f"You said: {ctx.request.messages[-1].text()}"
        args = json.dumps({"to": EMAIL.findall(text)[-1] if EMAIL.search(text) else text.split()[-1]})
        if not ctx.request.stream:
            return ChatResponse("r1", "m", text, tool_calls=[ToolCall("c1", "send", args)])
        return ChatStream(self._chunks(text, args), model="m")

    async def _chunks(self, text: str, args: str) -> AsyncIterator[ChatChunk]:
        yield ChatChunk(role="assistant")
        for i in range(0, len(text), 3):
            yield ChatChunk(content=text[i:i + 3])
        if self.fail_mid_stream is not None:
            raise self.fail_mid_stream
        for i in range(0, len(args), 4):
            yield ChatChunk(tool_calls=[ToolCallDelta(0, arguments=args[i:i + 4])])
        yield ChatChunk(finish_reason="tool_calls")


def stage(policy: str = "redact", **extra: Any) -> PrivacyStage:
    data: dict[str, Any] = {"routes": {"gpt": {"policy": policy}}, **extra}
    return PrivacyStage(FakeDetector(), PrivacySettings.model_validate(data))


def ctx(text: str, *, stream: bool = False, model: str = "gpt", caller: Caller | None = None
        ) -> RequestContext:
    request = ChatRequest(model, [Message("system", "Be brief."), Message("user", text)], stream=stream)
    return RequestContext("req_1", request, caller=caller)


async def collect(result: Result) -> tuple[str, str]:
    assert isinstance(result, ChatStream)
    content, args = [], []
    async for chunk in result:
        content.append(chunk.content or "")
        args += [d.arguments or "" for d in chunk.tool_calls or ()]
    return "".join(content), "".join(args)


TEXT = "Mail alice@corp.example, Alice Smith's address; cc bob@corp.example and alice@corp.example"


async def test_redact_hides_values_from_the_provider_and_restores_the_answer() -> None:
    c, upstream = ctx(TEXT), Upstream()
    result = await stage()(c, upstream)
    sent = upstream.seen[0].messages[-1].content
    assert sent == "Mail [EMAIL_1], [PERSON_1]'s address; cc [EMAIL_2] and [EMAIL_1]"
    assert isinstance(result, ChatResponse)
    assert result.content == f"You said: {TEXT}"
    assert result.tool_calls and json.loads(result.tool_calls[0].arguments) == {"to": "alice@corp.example"}
    info = c.privacy
    assert info is not None and info.policy == "redact" and info.entities == {"EMAIL": 3, "PERSON": 1}
    assert info.redacted is c.request and c.request.messages[-1].content == sent
    assert info.scrub("reply to bob@corp.example") == "reply to [EMAIL_2]"
    assert "alice@corp.example" not in repr((info.policy, info.source, info.entities, info.redacted))


async def test_redact_restores_a_stream_split_inside_placeholders() -> None:
    c, upstream = ctx(TEXT, stream=True), Upstream()
    content, args = await collect(await stage()(c, upstream))
    assert content == f"You said: {TEXT}"
    assert json.loads(args) == {"to": "alice@corp.example"}


async def test_log_only_sends_the_prompt_unchanged_and_keeps_a_redacted_copy() -> None:
    c, upstream = ctx(TEXT), Upstream()
    original = c.request
    result = await stage("log-only")(c, upstream)
    assert upstream.seen[0] is original and c.request is original
    assert isinstance(result, ChatResponse) and result.content == f"You said: {TEXT}"
    copy = c.privacy.redacted
    assert copy is not original and "alice" not in copy.messages[-1].content
    assert copy.messages[-1].content.startswith("Mail [EMAIL_1], [PERSON_1]")
    assert c.privacy.policy == "log-only"


async def test_block_names_types_never_values() -> None:
    upstream = Upstream()
    with pytest.raises(PIIDetected) as info:
        await stage("block")(ctx(TEXT), upstream)
    err = info.value
    assert err.status_code == 400 and err.code == "pii_detected" and err.param == "messages"
    assert "EMAIL, PERSON" in err.message and "alice" not in err.message.lower()
    assert upstream.seen == []
    refused = ctx(TEXT)  # recorders of the refusal get counts and the redacted copy
    with pytest.raises(PIIDetected):
        await stage("block")(refused, upstream)
    assert refused.privacy.entities == {"EMAIL": 3, "PERSON": 1}
    assert "alice" not in refused.privacy.redacted.messages[-1].content
    clean = await stage("block")(ctx("nothing personal"), upstream)
    assert isinstance(clean, ChatResponse) and clean.content == "You said: nothing personal"


async def test_literal_placeholders_in_the_prompt_survive_the_round_trip() -> None:
    c, upstream = ctx("Fill in [EMAIL_1] for alice@corp.example"), Upstream()
    result = await stage()(c, upstream)
    assert upstream.seen[0].messages[-1].content == "Fill in [EMAIL_1] for [[EMAIL_1]]"
    assert isinstance(result, ChatResponse)
    assert result.content == "You said: Fill in [EMAIL_1] for alice@corp.example"


async def test_off_and_unknown_routes_pass_through() -> None:
    c, upstream = ctx(TEXT, model="other"), Upstream()
    result = await stage()(c, upstream)
    assert upstream.seen[0] is c.request and isinstance(result, ChatResponse)
    assert c.privacy.policy == "off" and c.privacy.entities == {}


async def test_key_policy_tightens_the_route() -> None:
    s = stage("log-only", keys={"billing-app": {"policy": "block"}})
    with pytest.raises(PIIDetected):
        await s(ctx(TEXT, caller=KEY), Upstream())
    assert isinstance(await s(ctx(TEXT), Upstream()), ChatResponse)  # no key rule: log-only


async def test_entity_and_threshold_settings_limit_what_is_redacted() -> None:
    data = {"routes": {"gpt": {"policy": "redact", "thresholds": {"PERSON": 0.9}}}}
    s = PrivacyStage(FakeDetector(), PrivacySettings.model_validate(data))
    upstream = Upstream()
    await s(ctx(TEXT), upstream)
    assert upstream.seen[0].messages[-1].content.startswith("Mail [EMAIL_1], Alice Smith's")


async def test_errors_from_later_stages_do_not_echo_values() -> None:
    error = UpstreamRejected(f"Invalid input near '{TEXT[:36]}'", provider="openai")
    with pytest.raises(UpstreamRejected) as info:
        await stage("log-only")(ctx(TEXT), Upstream(error=error))
    assert info.value.message == "Invalid input near 'Mail [EMAIL_1], [PERSON_1]'"
    assert str(info.value) == info.value.message
    nested = AllProvidersFailed({"a": UpstreamBadResponse("bad alice@corp.example", provider="a")})
    nested.message = "All deployments failed. a: bad alice@corp.example"
    with pytest.raises(AllProvidersFailed) as many:
        await stage("log-only")(ctx(TEXT), Upstream(error=nested))
    assert "alice" not in many.value.message and "alice" not in many.value.provider_errors["a"].message


async def test_errors_mid_stream_are_scrubbed() -> None:
    upstream = Upstream(fail_mid_stream=UpstreamBadResponse("stream broke after bob@corp.example"))
    result = await stage("log-only")(ctx(TEXT, stream=True), upstream)
    with pytest.raises(UpstreamBadResponse, match=r"after \[EMAIL_2\]$"):
        await collect(result)


async def test_texts_short_or_long_are_scanned_off_the_event_loop() -> None:
    s = stage()
    await s(ctx("short alice@corp.example"), Upstream())
    await s(ctx("x" * 2500 + " alice@corp.example"), Upstream())
    assert threading.current_thread().name not in s.detector.threads  # type: ignore[attr-defined]
    assert s.detector.threads  # type: ignore[attr-defined]


async def test_scanner_failure_fails_closed_without_values() -> None:
    settings = PrivacySettings.model_validate({"default": {"policy": "redact"}})
    s = PrivacyStage(FakeDetector(fail=True), settings)
    upstream = Upstream()
    with pytest.raises(DetectionFailed) as info:
        await s(ctx(TEXT), upstream)
    assert "alice" not in info.value.message and info.value.__cause__ is None and upstream.seen == []


async def test_tool_history_is_redacted_and_answer_restored_in_a_pipeline() -> None:
    request = ChatRequest("gpt", [
        Message("assistant", None, tool_calls=[ToolCall("c0", "lookup", '{"email": "alice@corp.example"}')]),
        Message("tool", "Found Alice Smith", tool_call_id="c0"),
        Message("user", "Mail Alice Smith"),
    ])
    upstream = Upstream()
    result = await Pipeline([stage()], upstream)(RequestContext("req_2", request))
    seen = upstream.seen[0].messages
    assert seen[0].tool_calls and seen[0].tool_calls[0].arguments == '{"email": "[EMAIL_1]"}'
    assert seen[1].content == "Found [PERSON_1]" and seen[2].content == "Mail [PERSON_1]"
    assert isinstance(result, ChatResponse) and result.content == "You said: Mail Alice Smith"


def test_default_scanner_is_loaded_or_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from corral.privacy.stage import load_default_detector

    monkeypatch.setitem(sys.modules, "corral.privacy.detect", None)  # import fails
    with pytest.raises(DetectorUnavailable, match="PIIDetector could not be imported") as info:
        load_default_detector()
    assert info.value.status_code == 503


async def test_text_over_the_detection_budget_is_refused_before_any_detection() -> None:
    s = stage(max_detect_chars=100)
    upstream = Upstream()
    with pytest.raises(DetectionTooLarge, match=r"at most 100 characters.*privacy\.max_detect_chars") as info:
        await s(ctx("x" * 90), upstream)  # with "Be brief." and the separator: 101 characters
    assert info.value.status_code == 413 and info.value.code == "request_too_large"
    assert s.detector.threads == set() and upstream.seen == []  # type: ignore[attr-defined]
    await s(ctx("x" * 89), upstream)
    assert len(upstream.seen) == 1


def test_spans_of_the_joined_texts_are_cut_back_to_each_text() -> None:
    class Everything:
        def detect(self, text: str) -> list[Span]:
            return [Span(0, len(text), "PERSON", 0.9, "model")]

    assert detect_joined(Everything(), ["ab", "", "cde"]) == [
        [Span(0, 2, "PERSON", 0.9, "model")], [], [Span(0, 3, "PERSON", 0.9, "model")],
    ]
    assert detect_joined(Everything(), ["only"]) == [[Span(0, 4, "PERSON", 0.9, "model")]]


async def test_a_grounded_request_over_the_detection_budget_says_the_sources_count() -> None:
    """A file_search or knowledge route adds retrieved text the client never sent: the 413
    says so, and what to turn down, instead of telling the client to send less."""
    s = stage(max_detect_chars=50)
    grounded = ctx(TEXT)
    grounded.grounding = GroundingNote(context_tokens=900, sources=7)
    with pytest.raises(DetectionTooLarge) as info:
        await s(grounded, Upstream())
    assert "7 retrieved sources count toward it" in info.value.message
    assert "max_num_results" in str(info.value) and "privacy.max_detect_chars" in info.value.message
    with pytest.raises(DetectionTooLarge) as plain:
        await s(ctx(TEXT), Upstream())
    assert "retrieved" not in plain.value.message
