"""OpenAI images and audio endpoints, simulated (a test and benchmark tool, not a model).

``POST /v1/images/generations`` (JSON), ``/v1/images/edits`` and ``/v1/images/variations``
(multipart) answer an ``ImagesResponse`` with a tiny valid PNG (1x1, its colour a hash of the
prompt) as ``b64_json`` or as a ``url`` served by ``GET /sim/image.png``.
``POST /v1/audio/speech`` answers audio bytes: a valid WAV (or raw PCM) of silence whose length
follows the input text, and placeholder bytes with the right content type for the compressed
formats. ``POST /v1/audio/transcriptions`` and ``/v1/audio/translations`` (multipart) answer
the uploaded file's text when it is UTF-8 (so a test can upload a "recording" and see what
reached the upstream), else ``transcript of N bytes``.
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
import time
import zlib
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from .engine import BadRequest, Call, make_handler, new_id
from .generate import Generation, estimate_tokens
from .openai_dialect import DIALECT
from .openai_extras import Raw, extra_handler, int_param, json_body, require_model
from .settings import RequestPlan

IMAGE_TOKENS_IN = 65  # per input image of an edit or variation
IMAGE_TOKENS_OUT = 272  # per generated image (gpt-image-1, low quality, 1024x1024)
SAMPLE_RATE = 24000  # OpenAI's pcm: 24 kHz, 16-bit signed little-endian, mono
SAMPLES_PER_CHAR = 240  # 10 ms of audio per input character (at speed 1.0)
AUDIO_TYPES = {"mp3": "audio/mpeg", "opus": "audio/opus", "aac": "audio/aac", "flac": "audio/flac",
               "wav": "audio/wav", "pcm": "audio/pcm"}
_MAGIC = {"mp3": b"ID3\x04\x00\x00\x00\x00\x00\x00", "opus": b"OggS\x00\x02", "aac": b"\xff\xf1\x50\x80",
          "flac": b"fLaC\x00\x00\x00\x22"}
TEXT_FORMATS = {"text": "text/plain; charset=utf-8", "srt": "text/plain; charset=utf-8",
                "vtt": "text/plain; charset=utf-8"}


# --- images ---------------------------------------------------------------------------------


def tiny_png(seed: str) -> bytes:
    """A valid 1x1 RGB PNG whose colour is a hash of ``seed``."""
    rgb = hashlib.blake2b(seed.encode(), digest_size=3).digest()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" + rgb))
            + chunk(b"IEND", b""))


def _image_options(fields: Any, prompt: str | None, images: int) -> dict[str, Any]:
    n = int_param(fields, "n", 1, 1, 10)
    fmt = fields.get("response_format") or "b64_json"
    if fmt not in ("b64_json", "url"):
        raise BadRequest("Invalid 'response_format': expected 'b64_json' or 'url'.", "response_format")
    size = fields.get("size") or "1024x1024"
    if not isinstance(size, str) or (size != "auto" and not all(p.isdigit() for p in size.split("x", 1))):
        raise BadRequest(f"Invalid 'size': {size!r}.", "size")
    return {"n": n, "format": fmt, "size": size, "prompt": prompt or "", "images": images}


def _image_call(endpoint: str, model: str, opts: dict[str, Any], origin: str) -> Call:
    text = estimate_tokens(opts["prompt"]) if opts["prompt"] else 0
    return Call(endpoint=endpoint, model=model, stream=False, prompt_tokens=text, render=render_images,
                headers={"x-request-id": new_id("req_")}, extra={**opts, "origin": origin, "text": text})


def render_images(call: Call, gen: Generation | None) -> Any:
    x = call.extra
    data = []
    for i in range(x["n"]):
        seed = f"{x.get('seed') or x['prompt']}\0{i}"
        if x["format"] == "url":
            key = hashlib.blake2b(seed.encode(), digest_size=8).hexdigest()
            data.append({"url": f"{x['origin']}/sim/image.png?seed={key}"})
        else:
            data.append({"b64_json": base64.b64encode(tiny_png(seed)).decode()})
        if x["prompt"]:
            data[-1]["revised_prompt"] = x["prompt"]
    images = IMAGE_TOKENS_IN * x["images"]
    out = IMAGE_TOKENS_OUT * x["n"]
    return {"created": int(time.time()), "data": data, "output_format": "png", "size": x["size"],
            "usage": {"input_tokens": x["text"] + images, "output_tokens": out,
                      "total_tokens": x["text"] + images + out,
                      "input_tokens_details": {"text_tokens": x["text"], "image_tokens": images}}}


def parse_generation(request: web.Request, body: dict[str, Any]) -> Call:
    model = require_model(body.get("model"))
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise BadRequest("'prompt' must be a non-empty string", "prompt")
    opts = _image_options(body, prompt, 0)
    return _image_call("images.generations", model, opts, str(request.url.origin()))


async def _form(request: web.Request) -> MultiDictProxy[Any]:
    if request.content_type != "multipart/form-data":
        raise BadRequest("This endpoint expects a multipart/form-data body.")
    return await request.post()


def _files(form: MultiDictProxy[Any], *names: str) -> list[bytes]:
    return [f.file.read() for name in names for f in form.getall(name, []) if isinstance(f, web.FileField)]


def _text(form: MultiDictProxy[Any], name: str) -> str | None:
    value = form.get(name)
    if value is None or isinstance(value, str):
        return value
    raise BadRequest(f"'{name}' must be a text field", name)


async def parse_edit(request: web.Request, plan: RequestPlan) -> Call:
    form = await _form(request)
    model = require_model(_text(form, "model"))
    images = _files(form, "image", "image[]")
    if not images:
        raise BadRequest("'image' is required: upload one or more image files", "image")
    prompt = _text(form, "prompt")
    if not prompt:
        raise BadRequest("'prompt' must be a non-empty string", "prompt")
    opts = _image_options(form, prompt, len(images))
    return _image_call("images.edits", model, opts, str(request.url.origin()))


async def parse_variation(request: web.Request, plan: RequestPlan) -> Call:
    form = await _form(request)
    model = require_model(_text(form, "model"))
    images = _files(form, "image")
    if len(images) != 1:
        raise BadRequest("'image' is required: upload one image file", "image")
    opts = {**_image_options(form, None, 1), "seed": hashlib.blake2b(images[0]).hexdigest()}
    return _image_call("images.variations", model, opts, str(request.url.origin()))


async def image_png(request: web.Request) -> web.StreamResponse:
    """The image behind a ``url`` answer (colour from ``?seed=``)."""
    return web.Response(body=tiny_png(request.query.get("seed", "")), content_type="image/png")


# --- audio ----------------------------------------------------------------------------------


def wav(samples: int) -> bytes:
    """A valid mono 16-bit PCM WAV of ``samples`` samples of silence."""
    data = b"\x00\x00" * samples
    fmt = struct.pack("<HHIIHH", 1, 1, SAMPLE_RATE, SAMPLE_RATE * 2, 2, 16)
    return (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", len(data)) + data)


def parse_speech(request: web.Request, body: dict[str, Any]) -> Call:
    model = require_model(body.get("model"))
    text = body.get("input")
    if not isinstance(text, str) or not text:
        raise BadRequest("'input' must be a non-empty string", "input")
    if len(text) > 4096:
        raise BadRequest("'input' is longer than 4096 characters", "input")
    voice = body.get("voice")
    if isinstance(voice, dict):
        voice = voice.get("id")
    if not isinstance(voice, str) or not voice:
        raise BadRequest("'voice' is required: a voice name or {id}", "voice")
    fmt = body.get("response_format") or "mp3"
    if fmt not in AUDIO_TYPES:
        raise BadRequest(f"Invalid 'response_format': expected one of {sorted(AUDIO_TYPES)}.",
                         "response_format")
    speed = body.get("speed", 1.0)
    if not isinstance(speed, (int, float)) or isinstance(speed, bool) or not 0.25 <= speed <= 4.0:
        raise BadRequest("Invalid 'speed': expected a number from 0.25 to 4.0.", "speed")
    samples = math.ceil(len(text) * SAMPLES_PER_CHAR / speed)
    return Call(endpoint="audio.speech", model=model, stream=False, prompt_tokens=estimate_tokens(text),
                render=render_speech, headers={"x-request-id": new_id("req_")},
                extra={"format": fmt, "samples": samples})


def render_speech(call: Call, gen: Generation | None) -> Raw:
    fmt, samples = call.extra["format"], call.extra["samples"]
    if fmt == "wav":
        body = wav(samples)
    elif fmt == "pcm":
        body = b"\x00\x00" * samples
    else:
        body = _MAGIC[fmt] + b"\x00" * (samples // 8)
    return Raw(body, AUDIO_TYPES[fmt])


async def _parse_speech(request: web.Request, plan: RequestPlan) -> Call:
    return parse_speech(request, await json_body(request))


def transcript(data: bytes) -> str:
    """The uploaded bytes as text if they are UTF-8 text, else ``transcript of N bytes``."""
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        text = ""
    if text and all(c.isprintable() or c in "\r\n\t" for c in text):
        return text
    return f"transcript of {len(data)} bytes"


def _stamp(seconds: float, sep: str) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}{sep}{ms % 1000:03d}"


def _audio_call(task: str, request: web.Request, form: MultiDictProxy[Any]) -> Call:
    files = _files(form, "file")
    if not files:
        raise BadRequest("'file' is required: upload an audio file", "file")
    model = require_model(_text(form, "model"))
    fmt = _text(form, "response_format") or "json"
    if fmt not in ("json", "text", "srt", "verbose_json", "vtt"):
        raise BadRequest("Invalid 'response_format': expected json, text, srt, verbose_json or vtt.",
                         "response_format")
    if (_text(form, "stream") or "false").lower() == "true":
        raise BadRequest("The simulator does not stream transcriptions (stream=true).", "stream")
    text = transcript(files[0])
    duration = round(max(1.0, len(files[0]) / (SAMPLE_RATE * 2)), 2)
    language = (_text(form, "language") or "en") if task == "transcribe" else "english"
    endpoint = "audio.transcriptions" if task == "transcribe" else "audio.translations"
    prompt_tokens = estimate_tokens(_text(form, "prompt") or "")
    return Call(endpoint=endpoint, model=model, stream=False, prompt_tokens=prompt_tokens,
                render=render_transcript, headers={"x-request-id": new_id("req_")},
                extra={"task": task, "text": text, "format": fmt, "duration": duration,
                       "language": {"en": "english"}.get(language, language)})


def render_transcript(call: Call, gen: Generation | None) -> Any:
    x = call.extra
    text, duration = x["text"], x["duration"]
    usage = {"type": "duration", "seconds": math.ceil(duration)}
    if x["format"] == "json":
        return {"text": text, "usage": usage} if x["task"] == "transcribe" else {"text": text}
    if x["format"] == "verbose_json":
        segment = {"id": 0, "seek": 0, "start": 0.0, "end": duration, "text": " " + text,
                   "tokens": [50364 + i for i in range(len(text.split()))], "temperature": 0.0,
                   "avg_logprob": -0.1, "compression_ratio": 1.0, "no_speech_prob": 0.01}
        out = {"task": x["task"], "language": x["language"], "duration": duration, "text": text,
               "segments": [segment]}
        return {**out, "usage": usage} if x["task"] == "transcribe" else out
    if x["format"] == "srt":
        body = f"1\n{_stamp(0, ',')} --> {_stamp(duration, ',')}\n{text}\n\n"
    elif x["format"] == "vtt":
        body = f"WEBVTT\n\n{_stamp(0, '.')} --> {_stamp(duration, '.')}\n{text}\n\n"
    else:
        body = text + "\n"
    return Raw(body.encode(), TEXT_FORMATS[x["format"]])


async def parse_transcription(request: web.Request, plan: RequestPlan) -> Call:
    return _audio_call("transcribe", request, await _form(request))


async def parse_translation(request: web.Request, plan: RequestPlan) -> Call:
    return _audio_call("translate", request, await _form(request))


def routes() -> list[web.RouteDef]:
    """aiohttp routes: images and audio."""
    return [
        web.post("/v1/images/generations", make_handler(DIALECT, parse_generation)),
        web.post("/v1/images/edits", extra_handler(parse_edit)),
        web.post("/v1/images/variations", extra_handler(parse_variation)),
        web.get("/sim/image.png", image_png),
        web.post("/v1/audio/speech", extra_handler(_parse_speech)),
        web.post("/v1/audio/transcriptions", extra_handler(parse_transcription)),
        web.post("/v1/audio/translations", extra_handler(parse_translation)),
    ]
