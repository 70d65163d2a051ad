"""The recording upstream's answers on OpenAI's pass-through endpoints (corral/api/passthrough.py).

Each echoes the prose it received where OpenAI's answer has room for text, so a test can see
both what reached the upstream (recorded byte for byte) and that a redacting route restores
values in the answer: a completion says "echo: <prompt>" (streamed in 3-character pieces), an
image's `revised_prompt` is the prompt, a transcript is the uploaded file's text, a rerank
result carries its document.
"""

from __future__ import annotations

import time
from email.parser import BytesParser
from email.policy import default
from typing import Any

import orjson
from aiohttp import web

STREAM_PIECE = 3
PNG_1PX = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


async def _form(request: web.Request) -> dict[str, bytes]:
    """A multipart body's parts by name (the recording middleware has read the body already, so
    aiohttp's own form reader would find nothing left): the standard library's MIME parser."""
    head = f"content-type: {request.headers['content-type']}\r\n\r\n".encode()
    message = BytesParser(policy=default).parsebytes(head + await request.read())
    return {str(part.get_param("name", header="content-disposition")): part.get_payload(decode=True) or b""
            for part in message.iter_parts()}


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def _prompt(body: dict[str, Any]) -> str:
    prompt = body.get("prompt")
    return prompt if isinstance(prompt, str) else " ".join(str(p) for p in prompt or [])


async def completions(request: web.Request) -> web.StreamResponse:
    body = orjson.loads(await request.read())
    text, model = "echo: " + _prompt(body), body.get("model")
    usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    base = {"id": "cmpl-rec", "object": "text_completion", "created": int(time.time()), "model": model}
    if not body.get("stream"):
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": "stop"}
        return _json({**base, "choices": [choice], "usage": usage})
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)
    for i in range(0, len(text), STREAM_PIECE):
        last = i + STREAM_PIECE >= len(text)
        choice = {"index": 0, "text": text[i:i + STREAM_PIECE], "logprobs": None,
                  "finish_reason": "stop" if last else None}
        await response.write(b"data: " + orjson.dumps({**base, "choices": [choice]}) + b"\n\n")
    if (body.get("stream_options") or {}).get("include_usage"):
        await response.write(b"data: " + orjson.dumps({**base, "choices": [], "usage": usage}) + b"\n\n")
    await response.write(b"data: [DONE]\n\n")
    return response


async def moderations(request: web.Request) -> web.StreamResponse:
    body = orjson.loads(await request.read())
    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
    results = [{"flagged": "attack" in str(text), "categories": {"violence": "attack" in str(text)},
                "category_scores": {"violence": 0.9 if "attack" in str(text) else 0.01}} for text in inputs]
    return _json({"id": "modr-rec", "model": body.get("model"), "results": results})


async def images(request: web.Request) -> web.StreamResponse:
    if request.content_type.startswith("multipart/"):
        form = await _form(request)
        prompt, n = form.get("prompt", b"").decode(), int(form.get("n", b"1"))
    else:
        body = orjson.loads(await request.read())
        prompt, n = str(body.get("prompt", "")), int(body.get("n") or 1)
    return _json({"created": int(time.time()),
                  "data": [{"b64_json": PNG_1PX, "revised_prompt": prompt} for _ in range(n)],
                  "usage": {"input_tokens": 9, "output_tokens": 272, "total_tokens": 281}})


async def speech(request: web.Request) -> web.StreamResponse:
    body = orjson.loads(await request.read())
    audio = b"RIFF" + len(body["input"]).to_bytes(4, "little") + b"WAVEfmt " + b"\0" * 64
    return web.Response(body=audio, content_type="audio/wav")


async def transcribe(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    text = form["file"].decode("utf-8", "replace")
    if form.get("response_format") == b"text":
        return web.Response(text=text, content_type="text/plain")
    return _json({"text": text, "usage": {"type": "duration", "seconds": 3}})


async def rerank(request: web.Request) -> web.StreamResponse:
    body = orjson.loads(await request.read())
    query = set(str(body["query"]).lower().split())
    docs = [d if isinstance(d, str) else d.get("text", "") for d in body["documents"]]
    scored = sorted(((len(query & set(d.lower().split())) / (len(query) or 1), i)
                     for i, d in enumerate(docs)), reverse=True)
    results = [{"index": i, "relevance_score": score, "document": {"text": docs[i]}} for score, i in scored]
    return _json({"id": "rerank-rec", "model": body.get("model"), "usage": {"total_tokens": 25},
                  "results": results[: body.get("top_n") or len(results)]})


def routes() -> list[web.RouteDef]:
    return [web.post("/v1/completions", completions), web.post("/v1/moderations", moderations),
            web.post("/v1/images/generations", images), web.post("/v1/images/edits", images),
            web.post("/v1/images/variations", images), web.post("/v1/audio/speech", speech),
            web.post("/v1/audio/transcriptions", transcribe), web.post("/v1/audio/translations", transcribe),
            web.post("/v1/rerank", rerank)]
