"""`GET /v1/models` and `POST /v1/embeddings`."""

from __future__ import annotations

import asyncio
import base64
import struct
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from corral.api.auth import authenticate, read_body
from corral.api.responses import json_response
from corral.api.wire import parse_json_object
from corral.core.context import RequestContext
from corral.core.errors import InvalidRequest, ModelNotFound
from corral.core.tokens import get_encoding
from corral.core.types import EmbeddingRequest, EmbeddingResponse
from corral.observe.tracecontext import trace_headers


def _model_entry(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "corral"}


async def list_models(request: Request) -> Response:
    await authenticate(request, "inference")
    table = request.app.state.gateway.routes
    names = sorted({*table.routes, *table.aliases})
    return json_response({"object": "list", "data": [_model_entry(n) for n in names]})


async def get_model(request: Request) -> Response:
    await authenticate(request, "inference")
    name = request.path_params["model"]
    table = request.app.state.gateway.routes
    if name not in table.routes and name not in table.aliases:
        raise ModelNotFound(f"The model '{name}' does not exist on this gateway.", param="model")
    return json_response(_model_entry(name))


# The largest output size any catalogued embedding model offers is 3,072; twice that leaves
# room for self-hosted models while keeping one request from asking for megabytes per vector.
MAX_DIMENSIONS = 8192
MAX_USER_CHARS = 256  # the record's end_user column


# Token-array input (what LangChain's OpenAIEmbeddings sends by default) is decoded with the
# encoding the OpenAI SDKs and LangChain tokenize embedding inputs with, then sent as text: every
# provider can take it and the privacy policy reads it like any other input. OpenAI's limits.
TOKEN_ENCODING = "cl100k_base"
MAX_TOKEN_ARRAYS = 2048
MAX_ARRAY_TOKENS = 8192


def _ids(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(
        isinstance(t, int) and not isinstance(t, bool) for t in value)


def token_arrays(raw: Any) -> list[list[int]] | None:
    """`[1, 2, 3]` or `[[1, 2], [3]]` as a list of arrays; None for any other input."""
    if _ids(raw):
        return [raw]
    if isinstance(raw, list) and raw and all(_ids(x) for x in raw):
        return raw
    return None


def decode_token_arrays(arrays: list[list[int]]) -> list[str]:
    """The texts the arrays encode; 400 naming the array for ids outside the encoding or over
    OpenAI's limits. Building the encoding takes about a second once: async callers warm it first
    (`await asyncio.to_thread(get_encoding, TOKEN_ENCODING)`)."""
    if len(arrays) > MAX_TOKEN_ARRAYS:
        raise InvalidRequest(f"'input' holds {len(arrays)} token arrays; at most {MAX_TOKEN_ARRAYS} "
                             "per request.", param="input")
    encoding = get_encoding(TOKEN_ENCODING)
    texts = []
    for i, ids in enumerate(arrays):
        if len(ids) > MAX_ARRAY_TOKENS:
            raise InvalidRequest(f"input[{i}] holds {len(ids)} tokens; at most {MAX_ARRAY_TOKENS} per "
                                 "input.", param="input")
        bad = next((t for t in ids if not 0 <= t < encoding.max_token_value + 1), None)
        if bad is not None:
            raise InvalidRequest(f"input[{i}] holds token id {bad}, which {TOKEN_ENCODING} does not have "
                                 f"(ids 0-{encoding.max_token_value}); send the text instead.", param="input")
        texts.append(encoding.decode(ids))
    return texts


def parse_embedding_request(data: dict[str, Any]) -> tuple[EmbeddingRequest, str]:
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("'model' is required and must be a string.", param="model")
    raw = data.get("input")
    if isinstance(raw, str):
        inputs = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(x, str) for x in raw):
        inputs = raw
    elif (arrays := token_arrays(raw)) is not None:
        inputs = decode_token_arrays(arrays)
    else:
        raise InvalidRequest("'input' must be a non-empty string, an array of strings, an array of token "
                             "ids or an array of token-id arrays.", param="input")
    fmt = data.get("encoding_format", "float")
    if fmt not in ("float", "base64"):
        raise InvalidRequest("'encoding_format' must be 'float' or 'base64'.", param="encoding_format")
    dims = data.get("dimensions")
    if dims is not None and (not isinstance(dims, int) or isinstance(dims, bool)
                             or not 1 <= dims <= MAX_DIMENSIONS):
        raise InvalidRequest(f"'dimensions' must be an integer from 1 to {MAX_DIMENSIONS}.",
                             param="dimensions")
    user = data.get("user")
    if user is not None and (not isinstance(user, str) or len(user) > MAX_USER_CHARS):
        raise InvalidRequest(f"'user' must be a string of at most {MAX_USER_CHARS} characters.",
                             param="user")
    unknown = set(data) - {"model", "input", "encoding_format", "dimensions", "user"}
    if unknown:
        raise InvalidRequest(f"Unrecognized request argument(s): {', '.join(sorted(unknown))}.",
                             param=sorted(unknown)[0])
    return EmbeddingRequest(model, inputs, dims, user), fmt


def _encode(vector: list[float], fmt: str) -> list[float] | str:
    if fmt == "float":
        return vector
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


async def embeddings(request: Request) -> Response:
    """`POST /v1/embeddings` through the same lifecycle as chat: privacy, routing with
    failover, usage, a record with cost and metrics."""
    arrived = time.perf_counter()
    gateway = request.app.state.gateway
    caller = await authenticate(request, "inference")
    body = await read_body(request, gateway.settings.server.max_body_bytes)
    data = parse_json_object(body)
    if token_arrays(data.get("input")) is not None:  # built once, off the event loop
        await asyncio.to_thread(get_encoding, TOKEN_ENCODING)
    emb, fmt = parse_embedding_request(data)
    state = request.scope["state"]
    ctx = RequestContext(request_id=state["request_id"], request=emb, caller=caller, started=arrived,
                         client_request_id=state.get("client_request_id"), operation="embeddings")
    ctx.trace_parent, ctx.trace_state = trace_headers(request.scope["headers"])  # checked when recorded
    result = await gateway.handle(ctx)  # recorded there, errors included
    assert isinstance(result, EmbeddingResponse)
    wire = embedding_wire(result, ctx.public_model or emb.model, fmt)
    return json_response(wire, headers=ctx.response_headers)


def embedding_wire(result: EmbeddingResponse, model: str, fmt: str) -> dict[str, Any]:
    """OpenAI's embeddings list (the endpoint's body, and a batch line's)."""
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": _encode(v, fmt)}
            for i, v in enumerate(result.vectors)
        ],
        "model": model,
        "usage": {"prompt_tokens": result.usage.input_tokens, "total_tokens": result.usage.input_tokens},
    }
