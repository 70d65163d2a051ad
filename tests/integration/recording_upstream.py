"""An OpenAI-compatible upstream on loopback that records every request byte for byte.

It answers `POST /v1/chat/completions` (plain and streamed) by echoing the last user message it
received ("echo: <text>"), so a gateway that redacts must restore the client's values in the
answer; the stream is cut into 3-character deltas, so placeholders arrive split across chunks.
`POST /v1/embeddings` answers deterministic 384-dimension vectors (floats or base64). The batch
API a route with `batch: native` forwards to (`/v1/files`, `/v1/batches`) runs each line at
once with the same answers; the pass-through endpoints answer as recording_passthrough.py says.
Any other path is recorded and answered 404. `requests` holds what
arrived: method, path, the raw request target, every header, the raw body.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from tests.integration import recording_passthrough

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
DIMENSIONS = 384
STREAM_PIECE = 3


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    target: str  # the request line's target as sent: path and query, still percent-encoded
    headers: tuple[tuple[str, str], ...]
    body: bytes


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(p.get("text") or "" for p in content or [] if isinstance(p, dict))


def _echo(body: dict[str, Any]) -> str:
    users = [m for m in body.get("messages") or [] if m.get("role") == "user"]
    return "echo: " + (_text(users[-1].get("content")) if users else "")


def _vector(text: str) -> list[float]:
    seed = hashlib.sha256(text.encode()).digest()
    return [(seed[i % len(seed)] - 128) / 128 for i in range(DIMENSIONS)]


def _usage() -> dict[str, int]:
    return {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}


FULL = "full answer please"  # the prompt that gets every documented answer field set


def _completion(body: dict[str, Any]) -> dict[str, Any]:
    answer = {"id": "chatcmpl-rec", "object": "chat.completion", "created": int(time.time()),
              "model": body.get("model", "m"),
              "choices": [{"index": 0, "finish_reason": "stop",
                           "message": {"role": "assistant", "content": _echo(body)}}],
              "usage": _usage()}
    return _full(answer) if _echo(body) == f"echo: {FULL}" else answer


def _full(answer: dict[str, Any]) -> dict[str, Any]:
    """`answer` with every field OpenAI documents for a chat completion set (the contract test)."""
    token = {"token": "echo", "logprob": -0.1, "bytes": [101], "top_logprobs": []}
    answer["choices"][0] |= {"logprobs": {"content": [token], "refusal": None}}
    answer["choices"][0]["message"] |= {
        "refusal": "no", "annotations": [{"type": "url_citation", "url_citation": {
            "start_index": 0, "end_index": 4, "url": "https://example.com", "title": "t"}}],
        "audio": {"id": "audio_1", "data": "UklGRg==", "expires_at": 1, "transcript": "echo"},
        "function_call": {"name": "f", "arguments": "{}"},
        "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}
    answer |= {"system_fingerprint": "fp_rec", "service_tier": "default", "metadata": {"k": "v"},
               "moderation": {"input": {"flagged": False}, "output": {"flagged": False}}}
    answer["usage"] |= {
        "prompt_tokens_details": {"cached_tokens": 2, "audio_tokens": 1, "image_tokens": 1, "text_tokens": 7,
                                  "cache_write_tokens": 1},
        "completion_tokens_details": {"reasoning_tokens": 3, "audio_tokens": 1, "text_tokens": 6,
                                      "accepted_prediction_tokens": 1, "rejected_prediction_tokens": 1}}
    return answer


def _embedded(body: dict[str, Any]) -> dict[str, Any]:
    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
    data = []
    for i, text in enumerate(inputs):
        vector: Any = _vector(str(text))
        if body.get("encoding_format") == "base64":
            vector = base64.b64encode(struct.pack(f"<{DIMENSIONS}f", *vector)).decode()
        data.append({"object": "embedding", "index": i, "embedding": vector})
    return {"object": "list", "data": data, "model": body.get("model", "e"),
            "usage": {"prompt_tokens": 5, "total_tokens": 5}}


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


async def _chat(request: web.Request) -> web.StreamResponse:
    body = orjson.loads(await request.read())
    text, model, created = _echo(body), body.get("model", "m"), int(time.time())
    if not body.get("stream"):
        return _json(_completion(body))
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)

    async def send(chunk: dict[str, Any]) -> None:
        frame = {"id": "chatcmpl-rec", "object": "chat.completion.chunk", "created": created,
                 "model": model, **chunk}
        await response.write(b"data: " + orjson.dumps(frame) + b"\n\n")

    await send({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
    for i in range(0, len(text), STREAM_PIECE):
        await send({"choices": [{"index": 0, "delta": {"content": text[i:i + STREAM_PIECE]}}]})
    await send({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    if (body.get("stream_options") or {}).get("include_usage"):
        await send({"choices": [], "usage": _usage()})
    await response.write(b"data: [DONE]\n\n")
    return response


async def _embeddings(request: web.Request) -> web.StreamResponse:
    return _json(_embedded(orjson.loads(await request.read())))


class _BatchAPI:
    """OpenAI's Files and Batches, as much as Corral's native batches use: a batch is completed
    as soon as it is created, each line answered like the live endpoints."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/files", self.upload), web.get("/v1/files/{id}/content", self.content),
                web.delete("/v1/files/{id}", self.delete), web.post("/v1/batches", self.create),
                web.get("/v1/batches", self.list), web.get("/v1/batches/{id}", self.retrieve)]

    def _store(self, data: bytes) -> str:
        file_id = f"file-rec{len(self.files)}"
        self.files[file_id] = data
        return file_id

    async def upload(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()  # Corral's multipart: the file is the last part
        data = raw.split(b"\r\n\r\n")[-1].rsplit(b"\r\n--", 1)[0]
        return _json({"id": self._store(data), "object": "file", "purpose": "batch"})

    async def content(self, request: web.Request) -> web.StreamResponse:
        data = self.files.get(request.match_info["id"])
        return web.Response(body=data) if data is not None else _json({"error": {}}, 404)

    async def delete(self, request: web.Request) -> web.StreamResponse:
        self.files.pop(request.match_info["id"], None)
        return _json({"id": request.match_info["id"], "deleted": True})

    async def create(self, request: web.Request) -> web.StreamResponse:
        spec = orjson.loads(await request.read())
        out: list[bytes] = []
        for line in self.files[spec["input_file_id"]].splitlines():
            row = orjson.loads(line)
            answer = _embedded(row["body"]) if row["url"] == "/v1/embeddings" else _completion(row["body"])
            out.append(orjson.dumps({"id": f"batch_req_{len(out)}", "custom_id": row["custom_id"],
                                     "response": {"status_code": 200, "body": answer}, "error": None}))
        batch = {"id": f"batch_rec{len(self.batches)}", "object": "batch", "status": "completed",
                 "endpoint": spec["endpoint"], "input_file_id": spec["input_file_id"],
                 "output_file_id": self._store(b"\n".join(out) + b"\n"), "error_file_id": None,
                 "metadata": spec.get("metadata") or {}, "created_at": int(time.time())}
        self.batches[batch["id"]] = batch
        return _json(batch)

    async def list(self, request: web.Request) -> web.StreamResponse:
        return _json({"object": "list", "data": list(reversed(self.batches.values())), "has_more": False})

    async def retrieve(self, request: web.Request) -> web.StreamResponse:
        return _json(self.batches[request.match_info["id"]])


class RecordingUpstream:
    """`with RecordingUpstream() as up:` serves on 127.0.0.1 from a thread; `up.url` + "/v1"."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.url = ""
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    def _app(self) -> web.Application:
        @web.middleware
        async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
            headers = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in request.raw_headers)
            self.requests.append(Recorded(request.method, request.path, request.raw_path, headers,
                                          await request.read()))
            return await handler(request)

        app = web.Application(middlewares=[record], client_max_size=64 * 1024 * 1024)
        app.add_routes([web.post("/v1/chat/completions", _chat), web.post("/v1/embeddings", _embeddings),
                        *_BatchAPI().routes(), *recording_passthrough.routes()])
        return app

    async def _serve(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        runner = web.AppRunner(self._app(), access_log=None, shutdown_timeout=0.25)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            self.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
            self._ready.set()
            await self._stop.wait()
        finally:
            await runner.cleanup()

    def __enter__(self) -> RecordingUpstream:
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("recording upstream did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    def since(self, mark: int) -> Iterator[Recorded]:
        return iter(self.requests[mark:])
