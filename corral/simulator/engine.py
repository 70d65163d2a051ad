"""Dialect-independent request flow: auth, faults, timing, streaming, resets.

Each dialect only parses its request into a ``Call`` and renders bodies and
stream frames; this module decides *when* and *whether* they are sent, so
latency, time-to-first-token, pacing and every fault behave the same way in
all three wire formats.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from .faults import FAULT_KINDS, STATUS_FAULTS
from .generate import Generation, ToolSpec, build_generation
from .settings import RequestPlan, SimSettings, resolve_plan
from .state import STATE, SimStats

JSON_HEADERS = {"Content-Type": "application/json"}
_BREAKING = frozenset({"reset", "malformed_sse", "stream_error"})


class BadRequest(Exception):
    """The request is invalid for its dialect (answered as a 400)."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


@dataclass(slots=True)
class StreamScript:
    """A stream split by timing: preamble right after the headers, one frame
    per token (ttft before the first, 1/tps between), epilogue at the end;
    ``malformed`` and ``error`` replace the rest on the matching faults."""

    content_type: str
    frames: list[bytes]
    preamble: bytes = b""
    epilogue: bytes = b""
    malformed: bytes = b""
    error: bytes = b""


@dataclass(slots=True)
class ErrorContext:
    """Facts an error body may quote."""

    message: str = ""
    param: str | None = None
    model: str = ""
    prompt_tokens: int = 0
    context_window: int = 0
    retry_after_s: float = 1.0
    stream: bool = False
    call: Call | None = None


@dataclass(slots=True)
class Call:
    """A parsed request: what to count, generate and how to render it."""

    endpoint: str  # "chat" | "embeddings"
    model: str
    stream: bool
    prompt_tokens: int
    render: Callable[[Call, Generation | None], Any]
    script: Callable[[Call, Generation], StreamScript] | None = None
    prompt_text: str = ""
    max_tokens: int | None = None
    tool: ToolSpec | None = None
    tools: list[ToolSpec] = field(default_factory=list)
    json_schema: dict[str, Any] | None = None
    json_mode: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


class Dialect:
    """Base for the wire formats; subclasses fill in keys and error bodies."""

    name = "base"

    def check_key(self, request: web.Request, key: str) -> str | None:
        """Return an error message if the request lacks the right key."""
        raise NotImplementedError

    def error_body(self, kind: str, ctx: ErrorContext) -> tuple[int, Any, dict[str, str]]:
        """Status, JSON body and extra headers for an error ``kind``.

        Kinds: every status fault, plus "auth", "bad_request", "not_found".
        """
        raise NotImplementedError

    def fault_response(self, kind: str, ctx: ErrorContext) -> web.StreamResponse:
        status, body, headers = self.error_body(kind, ctx)
        return json_response(body, status, headers)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """orjson-encoded response (cheaper than aiohttp's json_response)."""
    merged = JSON_HEADERS if not headers else {**JSON_HEADERS, **headers}
    return web.Response(body=orjson.dumps(body), status=status, headers=merged)


def new_id(prefix: str, nbytes: int = 12) -> str:
    """A random identifier in the style of the vendor's ids."""
    return prefix + os.urandom(nbytes).hex()


def sse(data: Any, event: str | None = None, sep: bytes = b"\n\n") -> bytes:
    """One server-sent event; ``data`` is JSON-encoded unless it is bytes."""
    payload = data if isinstance(data, bytes) else orjson.dumps(data)
    if event is None:
        return b"data: " + payload + sep
    return b"event: " + event.encode() + b"\ndata: " + payload + sep


def hard_reset(request: web.BaseRequest) -> None:
    """Abort the TCP connection with an RST (SO_LINGER 0), not a clean FIN."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except (OSError, AttributeError):
            pass
    transport.abort()


def pick_tool(call: Call, plan: RequestPlan) -> ToolSpec | None:
    """The forced tool: from tool_choice, else from the x-sim-tool-call header."""
    if call.tool is not None or not plan.tool_call or not call.tools:
        return call.tool
    wanted = plan.tool_call
    if wanted.lower() not in ("1", "true", "yes"):
        for tool in call.tools:
            if tool.name == wanted:
                return tool
    return call.tools[0]


Parser = Callable[[web.Request, Any], Call]


ReadCall = Callable[[web.Request, RequestPlan], Awaitable[Call]]


async def admit(request: web.Request, dialect: Dialect,
                read: ReadCall) -> web.StreamResponse | tuple[Call, RequestPlan, str | None]:
    """What every simulated endpoint does first: check the key, resolve the request's plan,
    read the call (`read`: a JSON body, a multipart form...), choose the fault and count it.
    A refusal comes back as the response to send; otherwise the call, its plan and fault."""
    state = request.app[STATE]
    settings = state.settings
    if settings.require_key:
        problem = dialect.check_key(request, settings.require_key)
        if problem is not None:
            state.stats.rejected += 1
            return dialect.fault_response("auth", ErrorContext(message=problem))
    try:
        plan = resolve_plan(request.headers, settings)
        if plan.fault is not None and plan.fault != "none" and plan.fault not in FAULT_KINDS:
            raise BadRequest(f"unknown x-sim-fault {plan.fault!r}; expected one of {sorted(FAULT_KINDS)}")
        call = await read(request, plan)
    except (BadRequest, ValueError, TypeError, KeyError, AttributeError) as exc:
        state.stats.rejected += 1
        message = exc.message if isinstance(exc, BadRequest) else f"Invalid request: {exc}"
        param = exc.param if isinstance(exc, BadRequest) else None
        return dialect.fault_response("bad_request", ErrorContext(message=message, param=param))
    fault = state.choose_fault(dialect.name, call.model, call.endpoint, call.prompt_tokens, plan.fault)
    state.stats.record(dialect.name, call.endpoint, call.model, call.stream, fault)
    return call, plan, fault


def json_reader(parse: Parser) -> ReadCall:
    """A `ReadCall` for JSON endpoints: the body must be a JSON object, then `parse` it."""

    async def read(request: web.Request, plan: RequestPlan) -> Call:
        raw = await request.read()
        try:
            body = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            raise BadRequest("We could not parse the JSON body of your request.") from None
        if not isinstance(body, dict):
            raise BadRequest("The request body must be a JSON object.")
        return parse(request, body)

    return read


@contextmanager
def in_flight(stats: SimStats) -> Iterator[None]:
    """Count an admitted request as in flight until its handler ends, however it ends
    (a client that hangs up cancels the handler; the count must still come down)."""
    stats.in_flight += 1
    try:
        yield
    finally:
        stats.in_flight -= 1


async def handle(request: web.Request, dialect: Dialect, parse: Parser) -> web.StreamResponse:
    """Serve one model request end to end (the only handler entry point)."""
    admitted = await admit(request, dialect, json_reader(parse))
    if isinstance(admitted, web.StreamResponse):
        return admitted
    call, plan, fault = admitted
    state = request.app[STATE]
    with in_flight(state.stats):
        return await _serve(request, dialect, call, plan, fault, state.settings)


async def _serve(
    request: web.Request,
    dialect: Dialect,
    call: Call,
    plan: RequestPlan,
    fault: str | None,
    settings: SimSettings,
) -> web.StreamResponse:
    if plan.latency_s > 0:
        await asyncio.sleep(plan.latency_s)
    if fault in STATUS_FAULTS or (fault == "stream_error" and not call.stream):
        kind = "server_error" if fault == "stream_error" else fault
        ctx = ErrorContext(
            model=call.model,
            prompt_tokens=call.prompt_tokens,
            context_window=settings.context_window,
            retry_after_s=settings.retry_after_s,
            stream=call.stream,
            call=call,
        )
        assert kind is not None
        return dialect.fault_response(kind, ctx)
    if fault == "reset" and not call.stream:
        hard_reset(request)
        return web.Response()  # aiohttp finds the transport closed and drops it quietly
    gen: Generation | None = None
    if call.endpoint == "chat":
        gen = build_generation(
            prompt_text=call.prompt_text,
            prompt_tokens=call.prompt_tokens,
            output_tokens=plan.output_tokens,
            max_tokens=call.max_tokens,
            seed=settings.seed,
            tool=pick_tool(call, plan),
            json_schema=call.json_schema,
            json_mode=call.json_mode,
            cached_tokens=plan.cached_tokens,
            reasoning_tokens=plan.reasoning_tokens,
        )
        if call.stream and call.script is not None:
            return await _stream(request, call, gen, plan, fault, settings)
    wait = plan.ttft_s
    if gen is not None and plan.tps > 0:
        wait += (len(gen.chunks) - 1) / plan.tps
    if fault == "hang":
        wait += plan.hang_s
    if wait > 0:
        await asyncio.sleep(wait)
    body = orjson.dumps(call.render(call, gen))
    if fault == "malformed_sse":
        body = body[: max(1, len(body) // 2)]
    headers = {**JSON_HEADERS, **call.headers} if call.headers else JSON_HEADERS
    return web.Response(body=body, headers=headers)


async def _stream(
    request: web.Request,
    call: Call,
    gen: Generation,
    plan: RequestPlan,
    fault: str | None,
    settings: SimSettings,
) -> web.StreamResponse:
    """Write the stream with real timing; each write goes out immediately."""
    assert call.script is not None
    script = call.script(call, gen)
    resp = web.StreamResponse(headers={"Content-Type": script.content_type, "Cache-Control": "no-cache"})
    for key, value in call.headers.items():
        resp.headers[key] = value
    await resp.prepare(request)
    try:
        await _pump(request, resp, script, plan, fault, settings)
    except ConnectionResetError:
        pass  # the client went away mid-stream: nothing to report
    return resp


async def _pump(
    request: web.Request,
    resp: web.StreamResponse,
    script: StreamScript,
    plan: RequestPlan,
    fault: str | None,
    settings: SimSettings,
) -> None:
    if fault == "hang":
        await asyncio.sleep(plan.hang_s)
    if script.preamble:
        await resp.write(script.preamble)
    loop = asyncio.get_running_loop()
    start = loop.time() + plan.ttft_s
    interval = 1.0 / plan.tps if plan.tps > 0 else 0.0
    break_at = settings.fault_after_chunks if fault in _BREAKING else -1
    for i, frame in enumerate(script.frames):
        delay = start + i * interval - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if i == break_at:
            return await _break(request, resp, script, fault)
        await resp.write(frame)
    if break_at >= 0:
        return await _break(request, resp, script, fault)
    if script.epilogue:
        await resp.write(script.epilogue)
    await resp.write_eof()


async def _break(
    request: web.Request, resp: web.StreamResponse, script: StreamScript, fault: str | None
) -> None:
    """Apply a mid-stream fault: RST, a malformed frame, or an error event."""
    if fault == "reset":
        await asyncio.sleep(0.01)  # let the chunks already written reach the client
        hard_reset(request)  # the later write_eof fails on the closed transport, quietly
        return
    await resp.write(script.malformed if fault == "malformed_sse" else script.error)
    await resp.write_eof()


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_handler(dialect: Dialect, parse: Parser) -> Handler:
    """Bind a parser to the shared flow as an aiohttp handler."""

    async def handler(request: web.Request) -> web.StreamResponse:
        return await handle(request, dialect, parse)

    return handler
