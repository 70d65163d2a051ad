"""OpenAI endpoints passed through to OpenAI-compatible deployments, untranslated.

`POST /v1/completions`, `/v1/moderations`, `/v1/images/generations`, `/v1/images/edits`,
`/v1/images/variations`, `/v1/audio/speech`, `/v1/audio/transcriptions`,
`/v1/audio/translations` and `/v1/rerank` (the vLLM/Jina/Cohere shape). Only OpenAI-compatible
deployments serve them (openai, azure, vllm, ollama, llamacpp, openai-compatible): the body goes
upstream as sent, `model` set to the deployment's, and the answer comes back as the upstream
wrote it, a stream relayed event by event. They run the same lifecycle as chat (the key's
limits and budgets, the route's privacy policy, routing with retries and failover, a record
priced from the usage the answer reports), see docs/api.md.

Limits: JSON bodies `server.max_body_bytes`; forms (audio and image uploads) `server.max_form_bytes`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, cast

from starlette.datastructures import Headers
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from corral.api.auth import key_from_values, verify_key
from corral.api.multipart import MultipartReader, boundary_of
from corral.api.render import error_event
from corral.api.unexpected import log_unexpected
from corral.api.watch import (
    SSE_RAW,
    ClientGone,
    Closable,
    DisconnectWatch,
    client_left,
    receive_body,
    send_error,
    stream_events,
)
from corral.api.wire import parse_json_object
from corral.core.context import RequestContext
from corral.core.errors import CorralError, InvalidRequest
from corral.core.forward import FormPart, ForwardRequest, ForwardResponse
from corral.observe.tracecontext import trace_headers

JSON_ENDPOINTS = ("/completions", "/moderations", "/images/generations", "/audio/speech", "/rerank")
FORM_ENDPOINTS = ("/images/edits", "/images/variations", "/audio/transcriptions", "/audio/translations")
# OpenAI's moderation endpoint takes no model and uses this one: so does Corral's route lookup.
DEFAULT_MODELS = {"/moderations": "omni-moderation-latest"}
MAX_MODEL_CHARS = 256
MAX_USER_CHARS = 256  # the record's end_user column


def _model_of(value: Any, endpoint: str) -> str:
    if value is None and endpoint in DEFAULT_MODELS:
        return DEFAULT_MODELS[endpoint]
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_MODEL_CHARS:
        raise InvalidRequest(f"'model' is required: the name of a model on this gateway (a string of at "
                             f"most {MAX_MODEL_CHARS} characters). GET /v1/models lists them.", param="model")
    return value


def parse_json_call(endpoint: str, body: bytes) -> ForwardRequest:
    """A JSON pass-through body: an object with a `model`; `stream` and `user` checked, the rest
    left to the upstream, which knows its own parameters."""
    fields = parse_json_object(body)
    model = _model_of(fields.get("model"), endpoint)
    stream = fields.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise InvalidRequest("'stream' must be true or false.", param="stream")
    user = fields.get("user")
    if user is not None and (not isinstance(user, str) or len(user) > MAX_USER_CHARS):
        raise InvalidRequest(f"'user' must be a string of at most {MAX_USER_CHARS} characters.", param="user")
    return ForwardRequest(endpoint, model, fields={**fields, "model": model}, stream=bool(stream))


async def parse_form_call(endpoint: str, content_type: str | None, body: bytes) -> ForwardRequest:
    """A multipart pass-through body, read into parts (the body was bounded before)."""
    if not (content_type or "").lower().startswith("multipart/form-data"):
        raise InvalidRequest(f"/v1{endpoint} takes multipart/form-data (a file and form fields), the way "
                             "the OpenAI SDKs send it.")

    async def whole() -> AsyncIterator[bytes]:
        yield body

    parts: list[FormPart] = []
    async for part in MultipartReader(whole(), boundary_of(content_type)):
        data = b"".join([chunk async for chunk in part])
        parts.append(FormPart(part.name, data, part.filename, part.content_type))
    models = [p for p in parts if p.name == "model" and not p.is_file]
    if len(models) != 1:
        raise InvalidRequest("'model' is required once, as a form field: the name of a model on this "
                             "gateway.", param="model")
    try:
        model = _model_of(models[0].data.decode("utf-8"), endpoint)
    except UnicodeDecodeError:
        raise InvalidRequest("The form field 'model' is not UTF-8 text.", param="model") from None
    if not any(p.is_file for p in parts):
        raise InvalidRequest(f"/v1{endpoint} needs a file part ('file' or 'image').", param="file")
    stream = any(p.name == "stream" and p.data.strip().lower() == b"true" for p in parts)
    return ForwardRequest(endpoint, model, form=parts, stream=stream)


class PassThrough:
    """One pass-through endpoint: parse, run the lifecycle, send the upstream's answer on."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.form = endpoint in FORM_ENDPOINTS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        arrived = time.perf_counter()
        gateway = scope["app"].state.gateway
        headers = Headers(scope=scope)
        state = scope["state"]
        server = gateway.settings.server
        result: Any = None
        watch: DisconnectWatch | None = None
        try:
            caller = await verify_key(gateway, key_from_values(
                headers.get("authorization"), headers.get("x-api-key"), headers.get("api-key")), "inference")
            limit = server.max_form_bytes if self.form else server.max_body_bytes
            body = await receive_body(receive, headers.get("content-length"), limit)
            if self.form:
                call = await parse_form_call(self.endpoint, headers.get("content-type"), body)
            else:
                call = parse_json_call(self.endpoint, body)
            ctx = RequestContext(request_id=state["request_id"], request=call, caller=caller, started=arrived,
                                 client_request_id=state.get("client_request_id"), operation="forward")
            ctx.trace_parent, ctx.trace_state = trace_headers(scope["headers"])  # checked when recorded
            watch = DisconnectWatch(receive, ctx)  # from here on, a vanished client cancels the work
            result = await gateway.handle(ctx)  # recorded by the lifecycle (a stream: when it is over)
        except ClientGone:
            return
        except asyncio.CancelledError:
            if not await client_left(watch, None):
                raise
            await _close(result)
            return
        except Exception as exc:  # noqa: BLE001 - every error leaves in OpenAI's shape
            if watch is not None:
                watch.stop()
            await _close(result)
            if not isinstance(exc, CorralError):
                log_unexpected(exc, f"POST /v1{self.endpoint}", state["request_id"])
                exc = CorralError("Corral hit an internal error; the request id in x-request-id locates "
                                  "it in the logs.")
            await send_error(send, exc, [])
            return
        assert isinstance(result, ForwardResponse)
        out = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in ctx.response_headers.items()]
        out.append((b"x-corral-model", (ctx.served_model or call.model).encode("latin-1")))
        if result.chunks is None:
            watch.stop()
            out += ((b"content-type", result.content_type.encode("latin-1")),
                    (b"content-length", str(len(result.body)).encode()))
            await send({"type": "http.response.start", "status": 200, "headers": out})
            await send({"type": "http.response.body", "body": result.body})
            return
        events = _events(result.chunks, f"POST /v1{self.endpoint} (stream)", ctx.request_id)
        await stream_events(send, watch, cast(Closable, result.chunks), events, [*SSE_RAW, *out], ctx)


async def _events(chunks: AsyncIterator[bytes], what: str, request_id: str) -> AsyncGenerator[bytes]:
    """The upstream's events; a failure after the first one becomes an error event."""
    try:
        async for event in chunks:
            yield event
    except CorralError as exc:
        yield error_event(exc)
    except Exception as exc:  # noqa: BLE001 - logged, sent as an error event
        log_unexpected(exc, what, request_id)
        yield error_event(CorralError("Corral hit an internal error while streaming."))
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()


async def _close(result: Any) -> None:
    if isinstance(result, ForwardResponse) and result.chunks is not None:
        aclose = getattr(result.chunks, "aclose", None)
        if aclose is not None:
            await aclose()


ROUTES = [Route("/v1" + endpoint, PassThrough(endpoint), methods=["POST"])
          for endpoint in (*JSON_ENDPOINTS, *FORM_ENDPOINTS)]
