"""Offline sentence embeddings for quality scoring: wordllama weights shipped in its wheel (MIT)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

MAX_EMBED_CHARS = 8000


class WordLlamaEmbedder:
    """Offline sentence embeddings (wordllama ``l2_supercat``, 256-d), rows L2-normalised.

    ``WordLlama.load()`` would look for the tokenizer in the wrong package folder and try
    Hugging Face, so the bundled files are opened directly. Loaded lazily (~0.7 s), once.
    """

    CONFIG = "l2_supercat"
    DIM = 256

    def __init__(self) -> None:
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        import wordllama
        from safetensors import safe_open
        from tokenizers import Tokenizer
        from wordllama.inference import WordLlamaInference

        root = Path(wordllama.__file__).parent
        tokenizer = Tokenizer.from_file(str(root / "tokenizers" / f"{self.CONFIG}_tokenizer_config.json"))
        with safe_open(str(root / "weights" / f"{self.CONFIG}_{self.DIM}.safetensors"),
                       framework="np", device="cpu") as f:
            embedding = f.get_tensor("embedding.weight")
        return WordLlamaInference(embedding, tokenizer)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            if self._model is None:
                self._model = self._load()
            model = self._model
        vectors = np.asarray(model.embed([t[:MAX_EMBED_CHARS] for t in texts]), dtype=np.float32)
        return normalize(vectors)


_default_embedder: WordLlamaEmbedder | None = None


def default_embedder() -> WordLlamaEmbedder:
    """The process-wide embedder (the model is loaded once)."""
    global _default_embedder
    if _default_embedder is None:
        _default_embedder = WordLlamaEmbedder()
    return _default_embedder


def normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


# --- text from records --------------------------------------------------------------------------
