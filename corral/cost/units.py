"""Pass-through calls billed per unit, not per token: images, speech characters, audio seconds.

DALL-E bills each image by size and quality, tts-1 each character it reads, whisper-1 each
second of audio. Their answers report no token usage, so without units such a call was
recorded at (almost) $0, and a team's dollar budget did not see image generation at all.

    request_units(request)        what a call will be billed for, known before it is sent
                                  (images, characters): the record and the budget's reservation
    answer_units(request, body)   what only the answer or the upload says (audio seconds:
                                  `duration` in a verbose_json answer, else a WAV file's header)
    unit_line(rates, units)       the cost line; None when the price has no rate for the unit

A price names its unit rates most specific first: `image:1024x1024:hd`, then
`image:1024x1024`, then `image` (prices.json, `units`). The record keeps the units in
`extras.units` (`{"unit": "image", "count": 2, "variant": ["1024x1024", "hd"]}`), so a
repricing reads them back. Audio in another format than WAV, with a plain `json` answer,
has no known length: such a call stays unpriced (reported as such, never as $0).
"""

from __future__ import annotations

import contextlib
import io
import wave
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson

from corral.core.forward import ForwardRequest

_IMAGE_ENDPOINTS = ("/images/generations", "/images/edits", "/images/variations")
_AUDIO_ENDPOINTS = ("/audio/transcriptions", "/audio/translations")
DEFAULT_IMAGE_SIZE = "1024x1024"  # what OpenAI's image endpoints draw when no size is given


@dataclass(frozen=True, slots=True)
class Units:
    unit: str  # image | character | audio_second
    count: float
    variant: tuple[str, ...] = ()  # an image's size, then its quality

    def names(self) -> list[str]:
        """The rate names to look up, most specific first."""
        return [":".join((self.unit, *self.variant[:n])) for n in range(len(self.variant), -1, -1)]

    def to_record(self) -> dict[str, Any]:
        return {"unit": self.unit, "count": self.count, "variant": list(self.variant)}

    @classmethod
    def from_record(cls, data: Any) -> Units | None:
        if not isinstance(data, Mapping) or not isinstance(data.get("unit"), str):
            return None
        count = data.get("count")
        if not isinstance(count, int | float) or isinstance(count, bool) or count < 0:
            return None
        return cls(data["unit"], count, tuple(str(v) for v in data.get("variant") or ()))


def _field(request: ForwardRequest, name: str) -> Any:
    """A body field, from JSON or from a form's text part (forms send numbers as text)."""
    if request.fields is not None:
        return request.fields.get(name)
    for part in request.form or ():
        if not part.is_file and part.name == name:
            return part.data.decode("utf-8", "replace")
    return None


def request_units(request: ForwardRequest) -> Units | None:
    """Units known from the request alone: images drawn, characters read aloud."""
    if request.endpoint in _IMAGE_ENDPOINTS:
        n = _field(request, "n")
        try:
            count = int(n) if n is not None else 1
        except (TypeError, ValueError):
            count = 1
        size = _field(request, "size")
        variant = [size if isinstance(size, str) and size else DEFAULT_IMAGE_SIZE]
        quality = _field(request, "quality")
        if isinstance(quality, str) and quality:
            variant.append(quality)
        elif request.endpoint == "/images/generations":
            variant.append("standard")  # DALL-E 3's default quality
        return Units("image", max(count, 1), tuple(variant))
    if request.endpoint == "/audio/speech":
        text = _field(request, "input")
        return Units("character", len(text)) if isinstance(text, str) else None
    return None


def answer_units(request: ForwardRequest, answer: Any) -> Units | None:
    """Audio seconds of a transcription or translation: the answer's `duration`, else the
    uploaded file's length when it is a WAV file; None when neither says."""
    if request.endpoint not in _AUDIO_ENDPOINTS:
        return None
    duration = answer.get("duration") if isinstance(answer, Mapping) else None
    if isinstance(duration, int | float) and not isinstance(duration, bool) and duration >= 0:
        return Units("audio_second", float(duration))
    for part in request.form or ():
        if part.is_file and part.name == "file":
            with contextlib.suppress(wave.Error, EOFError, ValueError):
                with wave.open(io.BytesIO(part.data)) as audio:
                    return Units("audio_second", audio.getnframes() / audio.getframerate())
    return None


def forward_units(request: Any, answer: Any) -> Units | None:
    """The units of a pass-through call once answered (`ForwardResponse`; a JSON body read
    for its `duration`); None for anything else or when the call is billed by tokens."""
    if not isinstance(request, ForwardRequest):
        return None
    found = request_units(request)
    if found is not None or request.endpoint not in _AUDIO_ENDPOINTS:
        return found
    body: Any = None
    if getattr(answer, "chunks", None) is None and "json" in (getattr(answer, "content_type", "") or ""):
        with contextlib.suppress(ValueError):
            body = orjson.loads(answer.body)
    return answer_units(request, body)


def unit_rate(rates: Mapping[str, Decimal], units: Units) -> Decimal | None:
    """USD per unit: the most specific rate the price names."""
    for name in units.names():
        if name in rates:
            return rates[name]
    return None
