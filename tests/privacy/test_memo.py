"""Detection once per long text (corral.privacy.memo): what is remembered, and that a
remembered text is redacted exactly as a fresh one."""

from __future__ import annotations

import re
from collections.abc import Sequence

from corral.core.context import GroundingNote, RequestContext
from corral.core.pipeline import Result
from corral.core.types import ChatRequest, ChatResponse, Message
from corral.privacy.memo import MIN_CHARS, DetectionMemo, detect_texts
from corral.privacy.policy import PrivacySettings
from corral.privacy.stage import SEPARATOR, PrivacyStage, detect_joined
from corral.privacy.types import Span

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


class CountingDetector:
    """Emails; counts the characters it was asked to read."""

    def __init__(self) -> None:
        self.read: list[str] = []

    def detect(self, text: str) -> list[Span]:
        self.read.append(text)
        return [Span(m.start(), m.end(), "EMAIL") for m in EMAIL.finditer(text)]

    @property
    def chars(self) -> int:
        return sum(len(t) for t in self.read)


def long_text(tag: str, email: str) -> str:
    return f"{tag}: write to {email} for the template. " + "Filler prose about the quarterly report. " * 8


def run(detector: CountingDetector, memo: DetectionMemo, texts: Sequence[str],
        segments: Sequence[str] = ()) -> list[list[Span]]:
    return detect_texts(texts, memo, detector.detect, lambda t: detect_joined(detector, t), segments)


def values(texts: Sequence[str], spans: list[list[Span]]) -> list[list[str]]:
    return [[t[s.start:s.end] for s in found] for t, found in zip(texts, spans, strict=True)]


def test_a_long_text_seen_before_is_not_read_again() -> None:
    detector, memo = CountingDetector(), DetectionMemo()
    history = long_text("Earlier turn", "ann@corp.example")
    assert len(history) >= MIN_CHARS
    first = run(detector, memo, [history, "short new turn, bob@corp.example"])
    read_first = detector.chars
    second = run(detector, memo, [history, "another new turn, cy@corp.example"])
    assert values([history], second[:1]) == values([history], first[:1]) == [["ann@corp.example"]]
    assert detector.chars - read_first == len("another new turn, cy@corp.example")
    assert (memo.hits, memo.misses) == (1, 1)


def test_segments_inside_a_text_are_remembered_and_the_text_around_them_is_still_read() -> None:
    """A sources block: each retrieved chunk is remembered; the headers between them (file
    names can hold personal data too) are detected on every request."""
    one, two = long_text("Template A", "a@corp.example"), long_text("Template B", "b@corp.example")
    block = f"=== SOURCES ===\n[1] file: ann@home.example.txt\n{one}\n[2] file: b.txt\n{two}\n=== END ==="
    detector, memo = CountingDetector(), DetectionMemo()
    first = run(detector, memo, [block], segments=[one, two])
    expected = [["ann@home.example.txt", "a@corp.example", "b@corp.example"]]
    assert values([block], first) == expected
    read_first = detector.chars
    other = f"=== SOURCES ===\n[1] file: b.txt\n{two}\n=== END ==="
    second = run(detector, memo, [other], segments=[two])
    assert values([other], second) == [["b@corp.example"]]
    # only the two headers around the remembered chunk were read the second time (in one call)
    assert detector.chars - read_first == len(other) - len(two) + len(SEPARATOR)


def test_remembered_spans_equal_detecting_each_unit_alone() -> None:
    detector, memo = CountingDetector(), DetectionMemo()
    texts = [long_text("T", "x@corp.example"), "tiny y@corp.example", "",
             long_text("U", "z@corp.example") + " and w@corp.example"]
    for _ in range(2):  # fresh, then remembered
        found = run(detector, memo, texts)
        assert [sorted((s.start, s.end) for s in f) for f in found] == [
            sorted((s.start, s.end) for s in CountingDetector().detect(t)) for t in texts]


def test_the_memo_is_bounded_least_recently_used_first_out() -> None:
    detector, memo = CountingDetector(), DetectionMemo(max_entries=2)
    a, b, c = (long_text(tag, f"{tag}@corp.example") for tag in "abc")
    for text in (a, b, a, c):  # a was used after b: b goes
        run(detector, memo, [text])
    assert len(memo) == 2
    reads = len(detector.read)
    run(detector, memo, [a])
    assert len(detector.read) == reads  # still remembered
    run(detector, memo, [b])
    assert len(detector.read) == reads + 1  # evicted, read again


class Upstream:
    def __init__(self) -> None:
        self.seen: list[ChatRequest] = []

    async def __call__(self, ctx: RequestContext) -> Result:
        assert isinstance(ctx.request, ChatRequest)
        self.seen.append(ctx.request)
        return ChatResponse(id="r", model="gpt", content="ok", finish_reason="stop")


async def test_a_remembered_source_is_still_redacted_before_the_provider() -> None:
    """The stage end to end: the second grounded request reads only the new text, and the
    personal value inside the remembered source still reaches the provider as a placeholder."""
    detector = CountingDetector()
    stage = PrivacyStage(detector, PrivacySettings.model_validate({"routes": {"gpt": {"policy": "redact"}}}))
    source = long_text("Template", "owner@corp.example")
    upstream = Upstream()
    for question in ("first question", "second question"):
        block = f"=== SOURCES ===\n[1] file: t.txt\n{source}\n=== END ==="
        request = ChatRequest("gpt", [Message("user", block), Message("user", question)])
        ctx = RequestContext("req", request)
        ctx.grounding = GroundingNote(context_tokens=100, sources=1, source_texts=(source,))
        await stage(ctx, upstream)
    assert all("owner@corp.example" not in m.text() for r in upstream.seen for m in r.messages)
    assert all("[EMAIL_1]" in r.messages[0].text() for r in upstream.seen)
    assert sum(source in t for t in detector.read) == 1  # the source was read once
