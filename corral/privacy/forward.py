"""The privacy policy on pass-through calls (corral.core.forward): the same policies, on the
prose of a body Corral does not otherwise translate.

    off       passes the call through;
    log-only  passes it unchanged; the record keeps the redacted prose;
    block     refuses it (400 ``pii_detected``) when the prose holds personal data;
    redact    sends placeholders, and restores the values in the answer's text: in every
              string of a JSON answer, in a plain-text answer (a transcript), and in the
              events of a stream (a completion's ``choices[].text``, split anywhere).

What the policy cannot read it does not send: a file part (audio to transcribe, an image to
edit) on a ``block`` or ``redact`` route is refused with a 400 that says so, since neither
policy can keep personal data in a recording or a picture from the provider.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

import orjson

from corral.core.context import PrivacyOutcome, RequestContext, Work
from corral.core.errors import CorralError, InvalidRequest
from corral.core.forward import ForwardRequest, ForwardResponse, map_strings
from corral.core.pipeline import Next, Result
from corral.core.types import expect
from corral.privacy.offload import off_loop
from corral.privacy.policy import EffectivePolicy
from corral.privacy.redact import Vault, redact_texts
from corral.privacy.refusals import PIIDetected, block_message, scrub_error
from corral.privacy.restore import StreamRestorer, restore_text
from corral.privacy.types import Span


class Detects(Protocol):
    """What the privacy stage lends this module: detection within its budget, and outcomes."""

    async def detect(self, texts: Sequence[str], policy: EffectivePolicy) -> list[list[Span]]: ...

    def outcome(self, policy: EffectivePolicy, counts: dict[str, int], redacted: Work,
                vault: Vault | None) -> PrivacyOutcome: ...


class UninspectableContent(InvalidRequest):
    """A file part on a route whose privacy policy must read what is sent."""

    code = "pii_uninspectable"


async def guard_forward(stage: Detects, ctx: RequestContext, call_next: Next,
                        policy: EffectivePolicy) -> Result:
    """Apply `policy` to a pass-through call, then restore its answer on a ``redact`` route."""
    request = expect(ctx.request, ForwardRequest)
    if request.has_files and policy.policy in ("block", "redact"):
        raise UninspectableContent(
            f"The privacy policy for model '{request.model}' is '{policy.policy}', and Corral cannot "
            f"check the file sent to /v1{request.endpoint} (audio or an image) for personal data, so "
            "it was not sent. Use a model whose route has privacy 'off' or 'log-only' for this "
            "endpoint, or ask an administrator.", param="file")
    texts = request.texts()
    redacted, counts, vault = redact_texts(texts, await stage.detect(texts, policy))
    copy = request.with_texts(redacted)
    ctx.privacy = stage.outcome(policy, counts, copy, vault)
    if policy.policy == "block" and counts:
        raise PIIDetected(block_message(counts, request.model), param="input")
    if policy.policy == "redact":
        ctx.request = copy
    try:
        result = await call_next(ctx)
    except CorralError as exc:
        scrub_error(exc, vault)
        raise
    if policy.policy != "redact" or vault.size == 0:
        return result
    answer = expect(result, ForwardResponse)
    if answer.chunks is not None:
        answer.chunks = restore_events(answer.chunks, vault)
    else:
        answer.body = await off_loop(restore_body, answer.body, answer.content_type, vault)
    return answer


def restore_body(body: bytes, content_type: str, vault: Vault) -> bytes:
    """The values back in a whole answer: every string of a JSON body, or a text body."""
    if content_type.startswith("application/json"):
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return body
        return orjson.dumps(_restore_all(data, vault))
    if content_type.startswith("text/"):
        return restore_text(body.decode("utf-8", "replace"), vault).encode()
    return body  # audio, images: nothing to put back


def _restore_all(value: Any, vault: Vault) -> Any:
    return map_strings(value, lambda text: restore_text(text, vault))


async def restore_events(events: AsyncIterator[bytes], vault: Vault) -> AsyncIterator[bytes]:
    """A stream's events with the values back. A completion's `choices[i].text` deltas go
    through one StreamRestorer per choice (a placeholder may be split across events; the
    held tail goes out with that choice's finish_reason); other strings are restored whole."""
    restorers: dict[int, StreamRestorer] = {}
    try:
        async for event in events:
            yield _restore_event(event, vault, restorers)
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()


def _restore_event(event: bytes, vault: Vault, restorers: dict[int, StreamRestorer]) -> bytes:
    lines = event.split(b"\n")
    for i, line in enumerate(lines):
        if not line.startswith(b"data:") or line[5:].strip() == b"[DONE]":
            continue
        try:
            data = orjson.loads(line[5:])
        except orjson.JSONDecodeError:
            continue
        if isinstance(data, dict) and isinstance(data.get("choices"), list):
            for choice in data["choices"]:
                if isinstance(choice, dict) and isinstance(choice.get("text"), str):
                    index = choice["index"] if isinstance(choice.get("index"), int) else 0
                    restorer = restorers.setdefault(index, StreamRestorer(vault))
                    text = restorer.feed(choice["text"])
                    if choice.get("finish_reason") is not None:
                        text += restorer.flush()
                    choice["text"] = text
            rest = {k: v for k, v in data.items() if k != "choices"}
            data = {**_restore_all(rest, vault), "choices": data["choices"]}
        else:
            data = _restore_all(data, vault)
        lines[i] = b"data: " + orjson.dumps(data)
    return b"\n".join(lines)
