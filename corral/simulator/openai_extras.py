"""OpenAI endpoints beyond chat and embeddings, simulated (a test and benchmark tool, not a model).

``POST /v1/completions`` (legacy text completions, streamed or not). Moderations and rerank
are in ``openai_scoring.py``; images and audio in ``openai_media.py``. Every endpoint checks
the key and injects faults as chat does; the JSON-in/JSON-out ones go through ``engine.handle``
itself. ``handle_extra`` is the same flow for what ``engine.handle`` cannot carry (multipart
bodies, non-JSON answers, generated text outside chat): it shares the engine's admission
(``engine.admit``: key, 400s, fault choice, stats) and reuses ``_stream`` and ``hard_reset``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from .engine import (
    JSON_HEADERS,
    BadRequest,
    Call,
    ErrorContext,
    StreamScript,
    _stream,  # the engine's stream writer (timing, stream faults), reused as is
    admit,
    hard_reset,
    in_flight,
    new_id,
    sse,
)
from .faults import STATUS_FAULTS
from .generate import Generation, build_generation, estimate_tokens
from .openai_dialect import DIALECT, FINGERPRINT, SERVER_ERROR, _err
from .settings import RequestPlan
from .state import STATE


@dataclass(slots=True)
class Raw:
    """A non-JSON answer body (audio bytes, plain text, subtitles)."""

    body: bytes
    content_type: str


Parse = Callable[[web.Request, RequestPlan], Awaitable[Call]]


def require_model(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise BadRequest("you must provide a model parameter", "model")
    return value


def int_param(body: Any, name: str, default: int, low: int, high: int) -> int:
    """An integer field of a JSON body or a form (forms send digits as text)."""
    value = body.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise BadRequest(f"Invalid '{name}': expected an integer from {low} to {high}.", name)
    return value


async def handle_extra(request: web.Request, parse: Parse) -> web.StreamResponse:
    """``engine.handle`` for any body and any answer: the engine's admission (key check,
    400s, faults, stats), then this module's timing and rendering."""
    admitted = await admit(request, DIALECT, parse)
    if isinstance(admitted, web.StreamResponse):
        return admitted
    call, plan, fault = admitted
    state = request.app[STATE]
    settings = state.settings
    with in_flight(state.stats):
        if plan.latency_s > 0:
            await asyncio.sleep(plan.latency_s)
        if fault in STATUS_FAULTS or (fault == "stream_error" and not call.stream):
            ctx = ErrorContext(model=call.model, prompt_tokens=call.prompt_tokens,
                               context_window=settings.context_window, retry_after_s=settings.retry_after_s,
                               stream=call.stream, call=call)
            return DIALECT.fault_response("server_error" if fault == "stream_error" else str(fault), ctx)
        if fault == "reset" and not call.stream:
            hard_reset(request)
            return web.Response()
        gens: list[Generation] = call.extra.get("gens") or []
        if call.stream and call.script is not None and gens:
            return await _stream(request, call, gens[0], plan, fault, settings)
        wait = plan.ttft_s + (plan.hang_s if fault == "hang" else 0.0)
        if gens and plan.tps > 0:
            wait += max(0, max(len(g.chunks) for g in gens) - 1) / plan.tps
        if wait > 0:
            await asyncio.sleep(wait)
        out = call.render(call, gens[0] if gens else None)
        body, ctype = (out.body, out.content_type) if isinstance(out, Raw) else (orjson.dumps(out), None)
        if fault == "malformed_sse":
            body = body[: max(1, len(body) // 2)]
        headers = {**JSON_HEADERS, **call.headers}
        if ctype is not None:
            headers["Content-Type"] = ctype
        return web.Response(body=body, headers=headers)


def extra_handler(parse: Parse) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await handle_extra(request, parse)

    return handler


async def json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    try:
        body = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        raise BadRequest("We could not parse the JSON body of your request.") from None
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    return body


# --- POST /v1/completions -------------------------------------------------------------------


def _prompts(raw: Any) -> list[tuple[str, int]]:
    """(text, tokens) per prompt: a string, strings, token ids, or lists of token ids."""
    if raw is None:
        raw = "<|endoftext|>"  # OpenAI's default prompt
    if isinstance(raw, str):
        return [(raw, estimate_tokens(raw))]

    def ids(item: Any) -> bool:
        return isinstance(item, list) and bool(item) and all(
            isinstance(x, int) and not isinstance(x, bool) for x in item)

    if ids(raw):
        return [(" ".join(map(str, raw)), len(raw))]
    if isinstance(raw, list) and raw and all(isinstance(x, str) for x in raw):
        return [(x, estimate_tokens(x)) for x in raw]
    if isinstance(raw, list) and raw and all(ids(x) for x in raw):
        return [(" ".join(map(str, x)), len(x)) for x in raw]
    raise BadRequest("Invalid 'prompt': expected a string, an array of strings or of token ids.", "prompt")


def _stops(raw: Any) -> list[str]:
    if raw is None:
        return []
    stops = [raw] if isinstance(raw, str) else raw
    if not isinstance(stops, list) or len(stops) > 4 or not all(isinstance(s, str) and s for s in stops):
        raise BadRequest("Invalid 'stop': expected a string or up to 4 strings.", "stop")
    return stops


def _apply_stop(gen: Generation, stops: list[str]) -> Generation:
    """Cut the answer before the first stop sequence (finish_reason ``stop``)."""
    cut = min((i for i in (gen.text.find(s) for s in stops) if i >= 0), default=-1)
    if cut < 0:
        return gen
    chunks: list[str] = []
    used = 0
    for piece in gen.chunks:
        if used >= cut:
            break
        chunks.append(piece[: cut - used])
        used += len(piece)
    chunks = [c for c in chunks if c] or [""]
    return Generation("text", chunks, gen.text[:cut], "stop", gen.prompt_tokens, len(chunks), 0, 0)


def parse_completion(request: web.Request, body: dict[str, Any], plan: RequestPlan) -> Call:
    model = require_model(body.get("model"))
    prompts = _prompts(body.get("prompt"))
    n = int_param(body, "n", 1, 1, 128)
    max_tokens = body.get("max_tokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool)
                                   or max_tokens < 0):
        raise BadRequest("Invalid 'max_tokens': integer below minimum value 0.", "max_tokens")
    logprobs = body.get("logprobs")
    if logprobs is not None and (not isinstance(logprobs, int) or isinstance(logprobs, bool)
                                 or not 0 <= logprobs <= 5):
        raise BadRequest("Invalid 'logprobs': expected an integer from 0 to 5.", "logprobs")
    suffix = body.get("suffix")
    if suffix is not None and not isinstance(suffix, str):
        raise BadRequest("Invalid 'suffix': expected a string.", "suffix")
    stops = _stops(body.get("stop"))
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise BadRequest("Invalid 'stream_options': expected an object.", "stream_options")
    seed = request.app[STATE].settings.seed
    choices: list[tuple[str, Generation]] = []
    for text, tokens in prompts:
        gen = build_generation(prompt_text=text, prompt_tokens=tokens, output_tokens=plan.output_tokens,
                               max_tokens=max_tokens, seed=seed)
        choices += [(text, _apply_stop(gen, stops))] * n
    return Call(
        endpoint="completions",
        model=model,
        stream=body.get("stream") is True,
        prompt_tokens=sum(tokens for _, tokens in prompts),
        render=render_completion,
        script=completion_script,
        headers={"x-request-id": new_id("req_")},
        extra={"gens": [g for _, g in choices], "prompts": [p for p, _ in choices],
               "echo": body.get("echo") is True, "logprobs": logprobs,
               "include_usage": bool(options.get("include_usage"))},
    )


def _legacy_logprobs(pieces: list[str], top: int, offset: int) -> dict[str, Any]:
    """Simulated legacy ``logprobs`` (tokens, token_logprobs, top_logprobs, text_offset)."""
    values = [-round(0.01 * (1 + i % 7), 4) for i in range(len(pieces))]
    starts = [offset + sum(len(p) for p in pieces[:i]) for i in range(len(pieces))]
    tops = [{p: v, **{f"{p}~{k}": v - k for k in range(1, top)}} for p, v in zip(pieces, values, strict=True)]
    return {"tokens": pieces, "token_logprobs": values, "top_logprobs": tops, "text_offset": starts}


def _choice(call: Call, i: int, text: str, finish: str | None, pieces: list[str] | None = None,
            offset: int = 0) -> dict[str, Any]:
    top = call.extra["logprobs"]
    logprobs = None if top is None or pieces is None else _legacy_logprobs(pieces, max(top, 1), offset)
    return {"text": text, "index": i, "logprobs": logprobs, "finish_reason": finish}


def _usage(call: Call) -> dict[str, int]:
    completion = sum(g.completion_tokens for g in call.extra["gens"])
    return {"prompt_tokens": call.prompt_tokens, "completion_tokens": completion,
            "total_tokens": call.prompt_tokens + completion}


def _envelope(call: Call, cid: str, created: int, choices: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": cid, "object": "text_completion", "created": created, "model": call.model,
            "system_fingerprint": FINGERPRINT, "choices": choices}


def render_completion(call: Call, gen: Generation | None) -> dict[str, Any]:
    choices = []
    for i, (prompt, g) in enumerate(zip(call.extra["prompts"], call.extra["gens"], strict=True)):
        head = prompt if call.extra["echo"] else ""
        choices.append(_choice(call, i, head + g.text, g.finish, g.chunks, len(head)))
    return {**_envelope(call, new_id("cmpl-"), int(time.time()), choices), "usage": _usage(call)}


def completion_script(call: Call, gen: Generation) -> StreamScript:
    """text_completion chunks: one per token and choice, then each choice's finish_reason."""
    cid, created = new_id("cmpl-"), int(time.time())
    with_usage = {"usage": None} if call.extra["include_usage"] else {}
    gens: list[Generation] = call.extra["gens"]

    def frame(choice: dict[str, Any]) -> bytes:
        return sse({**_envelope(call, cid, created, [choice]), **with_usage})

    frames: list[bytes] = []
    for step in range(max(len(g.chunks) for g in gens)):
        for i, g in enumerate(gens):
            if step < len(g.chunks):
                head = call.extra["prompts"][i] if call.extra["echo"] and step == 0 else ""
                offset = len(head) + sum(len(p) for p in g.chunks[:step])
                frames.append(frame(_choice(call, i, head + g.chunks[step], None, [g.chunks[step]], offset)))
    prompts = call.extra["prompts"] if call.extra["echo"] else [""] * len(gens)  # echo with max_tokens 0
    epilogue = b"".join(frame(_choice(call, i, "" if g.chunks else prompts[i], g.finish))
                        for i, g in enumerate(gens))
    if call.extra["include_usage"]:
        epilogue += sse({**_envelope(call, cid, created, []), "usage": _usage(call)})
    return StreamScript(
        content_type="text/event-stream; charset=utf-8",
        frames=frames,
        epilogue=epilogue + b"data: [DONE]\n\n",
        malformed=b'data: {"id":"' + cid.encode() + b'","choices":[{"text":"unterminated\n\n',
        error=sse(_err(SERVER_ERROR, "server_error")),
    )


async def _parse_completion(request: web.Request, plan: RequestPlan) -> Call:
    return parse_completion(request, await json_body(request), plan)


def routes() -> list[web.RouteDef]:
    """aiohttp routes: completions (moderations and rerank: openai_scoring.py)."""
    return [web.post("/v1/completions", extra_handler(_parse_completion))]
