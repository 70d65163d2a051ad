"""OpenAI /v1/embeddings, simulated: input validation, token counts and deterministic vectors.

Kept apart from chat (``openai_dialect``), which routes it and answers its errors; nothing here
depends on the dialect object, so Azure reuses it for its deployment-scoped path.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .engine import BadRequest, Call, new_id
from .generate import MAX_DIM, Generation, embedding_base64, embedding_vector, estimate_tokens
from .state import STATE


def _embedding_inputs(body: dict[str, Any]) -> tuple[list[str], int]:
    raw = body.get("input")
    if isinstance(raw, str):
        raw = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(x, int) for x in raw):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise BadRequest("'input' must be a non-empty string or array", "input")
    texts: list[str] = []
    tokens = 0
    for item in raw:
        if isinstance(item, str) and item:
            texts.append(item)
            tokens += estimate_tokens(item)
        elif isinstance(item, list) and item and all(isinstance(x, int) for x in item):
            texts.append(" ".join(map(str, item)))
            tokens += len(item)
        else:
            raise BadRequest("'$.input' is invalid. Please check the API reference.", "input")
    return texts, tokens


def parse_embeddings(request: web.Request, body: dict[str, Any]) -> Call:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("you must provide a model parameter", "model")
    texts, tokens = _embedding_inputs(body)
    dim = body.get("dimensions")
    if dim is not None and (not isinstance(dim, int) or isinstance(dim, bool) or not 1 <= dim <= MAX_DIM):
        raise BadRequest(f"Invalid 'dimensions': expected an integer from 1 to {MAX_DIM}.", "dimensions")
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise BadRequest("Invalid 'encoding_format': expected 'float' or 'base64'.", "encoding_format")
    return Call(
        endpoint="embeddings",
        model=model,
        stream=False,
        prompt_tokens=tokens,
        render=render_embeddings,
        headers={"x-request-id": new_id("req_")},
        extra={
            "texts": texts,
            "dimensions": dim or request.app[STATE].settings.embedding_dim,
            "encoding": encoding,
        },
    )


def render_embeddings(call: Call, gen: Generation | None) -> dict[str, Any]:
    dim = call.extra["dimensions"]
    as_b64 = call.extra["encoding"] == "base64"
    data = []
    for i, text in enumerate(call.extra["texts"]):
        vec = embedding_vector(text, dim)
        data.append(
            {"object": "embedding", "index": i, "embedding": embedding_base64(vec) if as_b64 else vec}
        )
    return {
        "object": "list",
        "data": data,
        "model": call.model,
        "usage": {"prompt_tokens": call.prompt_tokens, "total_tokens": call.prompt_tokens},
    }
