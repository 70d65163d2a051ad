"""The privacy stage: personal data is handled by policy before a provider or a record sees it.

For each request the stage resolves the policy (route, then caller key: see
`corral.privacy.policy`), refuses the request if its text is over the detection budget
(413, ``privacy.max_detect_chars``; checked before any detection, which costs ~50-250 us
of CPU per character with the models), runs the detector once over all the
provider-visible texts joined (on a detection thread: detection is CPU-bound, and one call
per text meant 1,500 model calls on the event loop for 1,500 one-character messages), and then

    off       passes the request through;
    block     refuses it with a 400 ``pii_detected`` naming the types found, never values;
    log-only  passes it unchanged; records get the redacted copy;
    redact    sends the redacted copy, and restores the values in the answer (whole or
              streamed, content and tool-call arguments).

It leaves ``ctx.privacy`` (a `core.context.PrivacyOutcome`: policy, source, entity counts,
the redacted request, and ``scrub``) for the record/log/metric work that follows. No raw
value is stored there as data: ``scrub`` replaces original values with their placeholders
(for response text or messages a recorder writes). Errors raised by later
stages get the same treatment before they travel on, so a provider echoing the prompt
in its error message does not put the value into logs or the client's error body.
"""

from __future__ import annotations

import dataclasses
import logging
from bisect import bisect_right
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from corral.core.context import Caller, PrivacyOutcome, RequestContext, Work
from corral.core.errors import CorralError, PayloadTooLarge
from corral.core.forward import ForwardRequest
from corral.core.pipeline import Next, Result
from corral.core.stream import ChatStream
from corral.core.types import ChatChunk, ChatResponse, EmbeddingRequest, expect
from corral.privacy.forward import guard_forward
from corral.privacy.memo import DetectionMemo, detect_texts
from corral.privacy.offload import off_loop
from corral.privacy.policy import EffectivePolicy, PrivacySettings
from corral.privacy.redact import Redaction, Vault, redact_request, redact_texts, request_texts
from corral.privacy.refusals import PIIDetected, block_message, scrub_error
from corral.privacy.restore import restore_chunks, restore_response
from corral.privacy.types import Detector, Span

log = logging.getLogger("corral.privacy")



class DetectorUnavailable(CorralError):
    status_code = 503
    openai_type = "service_unavailable"
    code = "pii_detector_unavailable"


class DetectionFailed(CorralError):
    code = "pii_detection_failed"


class DetectionTooLarge(PayloadTooLarge):
    """More text than the detection budget: refused before any detection (413 request_too_large)."""


# Texts of one request are detected as one string, joined by a paragraph break.
SEPARATOR = "\n\n"
def detected_size(texts: Sequence[str]) -> int:
    """Characters the detector scans for these texts (joined by SEPARATOR)."""
    return sum(len(t) for t in texts) + len(SEPARATOR) * max(0, len(texts) - 1)


def detect_joined(detector: Detector, texts: Sequence[str]) -> list[list[Span]]:
    """One detection call over all texts joined; spans cut back to each text's own range."""
    if len(texts) == 1:
        return [detector.detect(texts[0]) if texts[0] else []]
    starts: list[int] = []
    pos = 0
    for t in texts:
        starts.append(pos)
        pos += len(t) + len(SEPARATOR)
    out: list[list[Span]] = [[] for _ in texts]
    for s in detector.detect(SEPARATOR.join(texts)):
        i = max(0, bisect_right(starts, s.start) - 1)
        while i < len(texts) and starts[i] < s.end:
            a, b = max(s.start - starts[i], 0), min(s.end - starts[i], len(texts[i]))
            if a < b:
                out[i].append(Span(a, b, s.entity, s.score, s.source))
            i += 1
    return out


def load_default_detector(**options: Any) -> Detector:
    """`corral.privacy.detect.PIIDetector(**options)`, or a DetectorUnavailable saying what is missing."""
    try:
        from corral.privacy.detect import PIIDetector
    except ImportError as exc:
        raise DetectorUnavailable(
            f"Personal-data detection is not available: corral.privacy.detect.PIIDetector could not be "
            f"imported ({exc}). Check that Corral is fully installed (`make install`)."
        ) from None
    detector: Detector = PIIDetector(**options)
    return detector


class PrivacyStage:
    name = "privacy"
    operations = frozenset({"chat", "embeddings", "forward"})

    def __init__(self, detector: Detector, settings: PrivacySettings | None = None,
                 serving: Callable[[str], Sequence[str]] | None = None) -> None:
        self.detector = detector
        self.settings = settings or PrivacySettings()
        # Every route that may serve a request for a model (the route table's fallbacks);
        # the strictest of their policies applies, whichever one ends up serving.
        self.serving = serving or (lambda model: [model])
        self.memo = DetectionMemo()  # long texts seen before cost no detection (corral.privacy.memo)

    def policy_for(self, model: str, caller: Caller | None) -> EffectivePolicy:
        """The policy for a request to `model`: the strictest of every route that may serve it."""
        return self.settings.resolve_serving(self.serving(model), caller)

    def strictest_policy(self, models: Sequence[str], caller: Caller | None) -> EffectivePolicy:
        """The strictest policy over `models` (text whose route is not known: all of them)."""
        return self.settings.resolve_serving(list(models) or ["*"], caller)

    async def storable(self, policy: EffectivePolicy, texts: list[str]) -> list[str]:
        """Texts as they may be stored (feedback, notes): redacted under every policy but
        ``off``, since a policy that keeps a value from a provider keeps it from disk too."""
        if policy.policy == "off":
            return texts
        return redact_texts(texts, await self.detect(texts, policy))[0]

    async def __call__(self, ctx: RequestContext, call_next: Next) -> Result:
        policy = self.policy_for(ctx.request.model, ctx.caller)
        if policy.policy == "off":
            ctx.privacy = self.outcome(policy, {}, ctx.request, None)
            return await call_next(ctx)
        if isinstance(ctx.request, EmbeddingRequest):
            return await self._embeddings(ctx, ctx.request, call_next, policy)
        if isinstance(ctx.request, ForwardRequest):
            return await guard_forward(self, ctx, call_next, policy)
        texts = request_texts(ctx.request)
        try:
            found = await self.detect(texts, policy, ctx.grounding.source_texts if ctx.grounding else ())
        except DetectionTooLarge as exc:
            if ctx.grounding is not None:  # most of the text may be sources the client never sent
                exc.message += (f" {ctx.grounding.sources} retrieved sources count toward it: ask for fewer "
                                "(file_search max_num_results, or the route's knowledge.top_k and "
                                "max_context_tokens).")
                exc.args = (exc.message,)
            raise
        # Placing thousands of placeholders in a long request is CPU work too: off the loop.
        redaction = await off_loop(redact_request, ctx.request, found)
        ctx.privacy = self.outcome(policy, redaction.entities, redaction.request, redaction.vault)
        if policy.policy == "block" and redaction.entities:  # records of the refusal use the copy
            raise PIIDetected(block_message(redaction.entities, ctx.request.model), param="messages")
        if policy.policy == "redact":
            ctx.request = redaction.request
        return await self._forward(ctx, call_next, redaction, restore=policy.policy == "redact")

    async def _embeddings(self, ctx: RequestContext, request: EmbeddingRequest, call_next: Next,
                          policy: EffectivePolicy) -> Result:
        """Embedding inputs (and `user`) under the same policy as chat. ``redact`` sends
        placeholders, one vault for all inputs; nothing comes back to restore."""
        n = len(request.inputs)
        texts = [*request.inputs, *([request.user] if request.user else [])]
        redacted, counts, vault = redact_texts(texts, await self.detect(texts, policy))
        copy = dataclasses.replace(request, inputs=redacted[:n], user=redacted[n] if request.user else None)
        ctx.privacy = self.outcome(policy, counts, copy, vault)
        if policy.policy == "block" and counts:
            raise PIIDetected(block_message(counts, request.model), param="input")
        if policy.policy == "redact":
            ctx.request = copy
        try:
            return await call_next(ctx)
        except CorralError as exc:
            scrub_error(exc, vault)
            raise

    async def detect(self, texts: Sequence[str], policy: EffectivePolicy,
                     segments: Sequence[str] = ()) -> list[list[Span]]:
        """Spans the policy acts on, per text: within the budget, on a detection thread.
        `segments`: texts placed verbatim inside these (retrieved sources), detected once."""
        self.check_budget(texts)
        try:
            spans: list[list[Span]] = await off_loop(self._detect_all, texts, policy, segments)
            return spans
        except CorralError:
            raise
        except Exception as exc:  # noqa: BLE001 - fail closed: never send what was not checked
            log.error("personal-data detection failed (%s)", type(exc).__name__)
            raise DetectionFailed(
                "Personal-data detection failed, so the request was not sent to the provider. "
                "The request id in x-request-id locates the error in the logs."
            ) from None

    def check_budget(self, texts: Sequence[str]) -> None:
        """Refuse (413) text over privacy.max_detect_chars, before any detection work."""
        size, limit = detected_size(texts), self.settings.max_detect_chars
        if size > limit:
            raise DetectionTooLarge(
                f"The request holds {size:,} characters of text; personal-data detection on this "
                f"route checks at most {limit:,} characters per request. Send less text (split it "
                "over several requests), or ask an administrator to raise privacy.max_detect_chars."
            )  # no param: chat messages and embedding inputs both come here

    def _detect_all(self, texts: Sequence[str], policy: EffectivePolicy,
                    segments: Sequence[str] = ()) -> list[list[Span]]:
        found = detect_texts(texts, self.memo, self.detector.detect,
                             lambda short: detect_joined(self.detector, short), segments)
        return [[s for s in spans if policy.accepts(s)] for spans in found]

    @staticmethod
    def outcome(policy: EffectivePolicy, counts: dict[str, int], redacted: Work,
                 vault: Vault | None) -> PrivacyOutcome:
        scrub = vault.scrub if vault is not None and vault.size else _unchanged
        return PrivacyOutcome(policy.policy, policy.source, dict(counts), redacted, scrub)

    async def _forward(self, ctx: RequestContext, call_next: Next, redaction: Redaction, *,
                       restore: bool) -> Result:
        vault = redaction.vault
        try:
            result = await call_next(ctx)
        except CorralError as exc:
            scrub_error(exc, vault)
            raise
        if vault.size == 0:
            return result
        if isinstance(result, ChatResponse):
            return await off_loop(restore_response, result, vault) if restore else result
        return expect(result, ChatStream).map(lambda chunks: _guarded(chunks, vault, restore=restore))


def _unchanged(text: str) -> str:
    return text


async def _guarded(chunks: AsyncIterator[ChatChunk], vault: Vault, *, restore: bool
                   ) -> AsyncIterator[ChatChunk]:
    """The stream restored (redact) or passed through (log-only), errors scrubbed either way."""
    inner = restore_chunks(chunks, vault) if restore else chunks
    try:
        async for chunk in inner:
            yield chunk
    except CorralError as exc:
        scrub_error(exc, vault)
        raise
    finally:
        aclose = getattr(inner, "aclose", None)
        if aclose is not None:
            await aclose()
