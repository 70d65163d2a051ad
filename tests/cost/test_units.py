"""Pass-through calls billed per unit (corral.cost.units): images, characters, audio seconds."""

from __future__ import annotations

import io
import wave
from typing import Any

import pytest

from corral.core.forward import FormPart, ForwardRequest, ForwardResponse
from corral.cost.pricing import Pricer
from corral.cost.units import Units, answer_units, forward_units, request_units


def images(**fields: Any) -> ForwardRequest:
    return ForwardRequest("/images/generations", "dall-e-3", fields={"prompt": "an owl", **fields})


def wav(seconds: float, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\0\0" * int(seconds * rate))
    return out.getvalue()


def transcription(data: bytes, filename: str = "a.wav") -> ForwardRequest:
    return ForwardRequest("/audio/transcriptions", "whisper-1", form=[
        FormPart("model", b"whisper-1"), FormPart("file", data, filename, "audio/wav")])


def test_images_are_counted_with_their_size_and_quality() -> None:
    big = images(n=2, size="1792x1024", quality="hd")
    assert request_units(big) == Units("image", 2, ("1792x1024", "hd"))
    assert request_units(images()) == Units("image", 1, ("1024x1024", "standard"))  # OpenAI's defaults
    edit = ForwardRequest("/images/edits", "dall-e-2", form=[
        FormPart("prompt", b"a hat"), FormPart("n", b"3"), FormPart("size", b"512x512"),
        FormPart("image", b"\x89PNG", "owl.png", "image/png")])
    assert request_units(edit) == Units("image", 3, ("512x512",))


def test_speech_is_counted_in_characters_and_chat_like_calls_have_no_units() -> None:
    speech = ForwardRequest("/audio/speech", "tts-1", fields={"input": "Hello there", "voice": "alloy"})
    assert request_units(speech) == Units("character", 11)
    assert request_units(ForwardRequest("/completions", "m", fields={"prompt": "hi"})) is None


def test_audio_seconds_come_from_the_answer_else_from_a_wav_header() -> None:
    verbose = {"text": "hi", "duration": 61.5}
    assert answer_units(transcription(b"ID3..."), verbose) == Units("audio_second", 61.5)
    assert answer_units(transcription(wav(2.5)), {"text": "hi"}) == Units("audio_second", 2.5)
    assert answer_units(transcription(b"ID3 not a wav", "a.mp3"), {"text": "hi"}) is None
    answered = ForwardResponse(b'{"text": "hi", "duration": 3.0}', "application/json")
    assert forward_units(transcription(b"x", "a.mp3"), answered) == Units("audio_second", 3.0)


def record(model: str, units: Units, **extra: Any) -> dict[str, Any]:
    return {"status": "ok", "provider_type": "openai", "served_model": model, "model": model,
            "input_tokens": 9, "output_tokens": 0, "created_at": "2026-12-04T10:00:00+00:00",
            "extras": {"units": units.to_record()}, **extra}


@pytest.mark.parametrize(("model", "units", "usd"), [
    ("dall-e-3", Units("image", 2, ("1792x1024", "hd")), 0.24),
    ("dall-e-3", Units("image", 1, ("1024x1024", "standard")), 0.04),
    ("dall-e-2", Units("image", 4, ("512x512",)), 0.072),
    ("tts-1", Units("character", 1000), 0.015),
    ("tts-1-hd", Units("character", 1000), 0.03),
    ("whisper-1", Units("audio_second", 90), 0.009),
])
def test_unit_calls_are_priced_from_the_catalog(model: str, units: Units, usd: float) -> None:
    assert Pricer.from_settings(None).cost_of(record(model, units)) == (pytest.approx(usd), True)


def test_a_unit_the_price_does_not_name_is_unpriced_not_free() -> None:
    pricer = Pricer.from_settings(None)
    assert pricer.cost_of(record("dall-e-3", Units("image", 1, ("4096x4096", "hd")))) == (None, False)
    failed = record("dall-e-3", Units("image", 1, ("1024x1024", "standard")), status="error")
    assert pricer.cost_of(failed) == (0.0, True)  # an error with no output is not billed


def test_units_read_back_from_a_record_ignore_garbage() -> None:
    kept = {"unit": "image", "count": 2, "variant": ["512x512"]}
    assert Units.from_record(kept) == Units("image", 2, ("512x512",))
    for bad in (None, "image", {"unit": "image"}, {"unit": "image", "count": -1}, {"unit": 3, "count": 1},
                {"unit": "image", "count": True}):
        assert Units.from_record(bad) is None
