"""Pass-through requests: OpenAI endpoints Corral routes but does not translate.

`/v1/completions`, `/v1/moderations`, `/v1/images/*`, `/v1/audio/*` and `/v1/rerank` have no
canonical meaning inside Corral: only OpenAI-compatible deployments serve them, so the body
goes upstream as the client sent it, with one change, `model`, set to the deployment's model.
They still run the lifecycle (limits, privacy, routing with failover, a priced record): that
is why the body is kept parsed (`fields` for JSON, `form` for multipart) rather than as bytes.

What the privacy policy reads is every string in the body except the fields that hold names
from a fixed vocabulary (`NON_TEXT_KEYS`: sizes, voices, formats); file parts (audio, images)
are bytes it cannot read, which `has_files` tells it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from corral.core.types import Usage

# Fields whose values are choices from a vocabulary or identifiers, not prose: the privacy
# policy leaves them alone (a redacted `voice` or `size` would only break the request).
NON_TEXT_KEYS = frozenset({
    "model", "response_format", "size", "quality", "style", "voice", "background", "output_format",
    "moderation", "language", "timestamp_granularities", "timestamp_granularities[]", "include",
    "include[]", "stream_format", "service_tier", "input_fidelity", "encoding_format", "type",
    "chunking_strategy", "stream", "n", "temperature", "top_n", "speed",
})


@dataclass(slots=True)
class FormPart:
    """One multipart field or file, held whole (the endpoint bounds the form's size)."""

    name: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None

    @property
    def is_file(self) -> bool:
        return self.filename is not None

    @property
    def is_text(self) -> bool:
        return not self.is_file and self.name not in NON_TEXT_KEYS


@dataclass(slots=True)
class ForwardRequest:
    """A pass-through call: the endpoint (`/completions`), the model, and the body, parsed."""

    endpoint: str
    model: str
    fields: dict[str, Any] | None = None  # a JSON body
    form: list[FormPart] | None = None  # a multipart body (audio and image uploads)
    stream: bool = False  # the client asked for an event stream

    @property
    def user(self) -> str | None:
        """The end user the client named (`user`), for the record's end-user column."""
        value = (self.fields or {}).get("user")
        return value if isinstance(value, str) else None

    @property
    def has_files(self) -> bool:
        return any(p.is_file for p in self.form or ())

    def texts(self) -> list[str]:
        """The prose the body carries, in a fixed order (`with_texts` takes them back in it)."""
        if self.form is not None:
            return [p.data.decode("utf-8", "replace") for p in self.form if p.is_text]
        return list(_strings(self.fields or {}))

    def with_texts(self, texts: list[str]) -> ForwardRequest:
        """A copy with `texts()` replaced, in order (a redacted copy)."""
        pending = iter(texts)
        if self.form is not None:
            form = [dataclasses.replace(p, data=next(pending).encode()) if p.is_text else p
                    for p in self.form]
            return dataclasses.replace(self, form=form)
        return dataclasses.replace(self, fields=map_strings(self.fields or {}, lambda _: next(pending)))


@dataclass(slots=True)
class ForwardResponse:
    """The upstream's answer, untranslated: its body and content type, or its event stream.

    `usage` is what the answer says it used (tokens), read from a JSON body or, for a stream,
    filled in as the events that carry it pass by; None when the answer does not say."""

    body: bytes
    content_type: str
    usage: Usage | None = None
    chunks: AsyncIterator[bytes] | None = None  # set for an event stream, relayed as it arrives
    headers: dict[str, str] = field(default_factory=dict)


def _strings(value: Any, key: str | None = None) -> Iterator[str]:
    if key in NON_TEXT_KEYS:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v, key)


def map_strings(value: Any, fn: Callable[[str], str], key: str | None = None) -> Any:
    """`value` with `fn` applied to every prose string (the ones `_strings` yields), in order."""
    if key in NON_TEXT_KEYS:
        return value
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, dict):
        return {k: map_strings(v, fn, k) for k, v in value.items()}
    if isinstance(value, list):
        return [map_strings(v, fn, key) for v in value]
    return value


def usage_of(payload: Any) -> Usage | None:
    """Token usage from an OpenAI-style `usage` object, whichever names it uses
    (`prompt_tokens`/`completion_tokens`, or `input_tokens`/`output_tokens`); None without one."""
    raw = payload.get("usage") if isinstance(payload, dict) else None
    if not isinstance(raw, dict):
        return None
    numbers = {k: v for k, v in raw.items() if isinstance(v, int) and not isinstance(v, bool)}
    prompt = numbers.get("prompt_tokens", numbers.get("input_tokens"))
    output = numbers.get("completion_tokens", numbers.get("output_tokens", 0))
    if prompt is None:
        prompt = numbers.get("total_tokens", 0) - output  # rerank reports a total only
    if prompt <= 0 and output <= 0:
        return None
    return Usage(input_tokens=max(prompt, 0), output_tokens=max(output, 0))
