"""Issue 8, items 1 and 2: privacy detection must never freeze the gateway.

Item 1: the security review's inputs ("Aa " * 12000: 19 s; 4,000 BEGIN PRIVATE KEY lines: 4.6 s)
froze the process in the regex engine. Item 2: small texts were detected one call each, on the
event loop: 1,500 one-character messages, or tool-call arguments of `json.dumps(["a"] * 1900)`,
froze every route for ~10 s. These tests use only the public interfaces, so they run (and fail)
on the code before the fix too.
"""

from __future__ import annotations

import asyncio
import gc
import json
import threading
import time

from corral.core.context import RequestContext
from corral.core.types import ChatRequest, ChatResponse, Message, ToolCall
from corral.privacy.detect import PIIDetector
from corral.privacy.policy import PrivacySettings
from corral.privacy.stage import PrivacyStage
from corral.privacy.types import Span
from tests.privacy.test_detect_adversarial import SPEED, cpu_seconds


def test_the_review_inputs_are_detected_in_milliseconds() -> None:
    detector = PIIDetector(use_model=False)  # the rules: the part that held the GIL for seconds
    for text in ("Aa " * 12000, "-----BEGIN PRIVATE KEY-----\n" * 4000):  # before: seconds
        seconds = cpu_seconds(lambda t=text: detector.detect(t), 0.25 * SPEED)
        assert seconds < 0.25 * SPEED, f"{seconds * 1000:.0f} ms (host speed factor {SPEED:.1f})"


class ModelLikeDetector:
    """Costs what a model does: a fixed 3 ms per call (session run, spaCy pipeline) plus 20 us per
    character, in Python, holding the GIL; records the threads it ran on and its calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.threads: set[str] = set()

    def detect(self, text: str) -> list[Span]:
        self.calls += 1
        self.threads.add(threading.current_thread().name)
        deadline = time.perf_counter() + 0.003 + 20e-6 * len(text)
        while time.perf_counter() < deadline:
            pass
        return [Span(i, i + 1, "PERSON", 0.9, "model") for i, ch in enumerate(text) if ch == "b"]


class LoopLag:
    """The longest the event loop stalled (beyond a 1 ms sleep) while the block ran."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(0.001)
            self.worst = max(self.worst, time.perf_counter() - start - 0.001)

    async def __aenter__(self) -> LoopLag:
        # A full collection of the suite's heap (models loaded) can pause the loop for hundreds
        # of ms; that is the collector, not detection (corral serve freezes its start-up heap).
        gc.collect()
        gc.disable()
        self._task = asyncio.create_task(self._tick())
        await asyncio.sleep(0.005)  # the ticker is running before the work starts
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.sleep(0.005)
        gc.enable()
        assert self._task is not None
        self._task.cancel()


async def _run(request: ChatRequest, detector: ModelLikeDetector) -> tuple[float, ChatRequest]:
    stage = PrivacyStage(detector, PrivacySettings.model_validate({"default": {"policy": "redact"}}))
    seen: list[ChatRequest] = []

    async def upstream(ctx: RequestContext) -> ChatResponse:
        seen.append(ctx.request)
        return ChatResponse("r1", "m", "ok")

    async with LoopLag() as lag:
        await stage(RequestContext("req_1", request), upstream)
    return lag.worst, seen[0]


async def test_many_one_character_messages_are_detected_in_one_call_off_the_loop() -> None:
    detector = ModelLikeDetector()
    messages = [Message("user", "b" if i == 700 else "a") for i in range(1500)]
    lag, sent = await _run(ChatRequest("gpt", messages), detector)
    assert lag < 0.05, f"the event loop stalled {lag * 1000:.0f} ms"  # before: ~4.5 s
    assert detector.calls == 1 and threading.current_thread().name not in detector.threads
    assert sent.messages[700].content == "[PERSON_1]" and sent.messages[699].content == "a"


async def test_tool_call_arguments_of_many_strings_are_detected_in_one_call_off_the_loop() -> None:
    detector = ModelLikeDetector()
    arguments = json.dumps(["a"] * 1899 + ["b"])  # a 13 KiB body
    request = ChatRequest("gpt", [
        Message("assistant", None, tool_calls=[ToolCall("c1", "lookup", arguments)]),
        Message("tool", "done", tool_call_id="c1"),
        Message("user", "next"),
    ])
    lag, sent = await _run(request, detector)
    assert lag < 0.05, f"the event loop stalled {lag * 1000:.0f} ms"  # before: ~5.7 s
    assert detector.calls == 1
    calls = sent.messages[0].tool_calls
    assert calls and json.loads(calls[0].arguments)[-2:] == ["a", "[PERSON_1]"]
