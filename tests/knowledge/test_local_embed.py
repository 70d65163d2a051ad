"""The built-in embedding model (providers/local_embed.py): shape, determinism, meaning,
offline loading, and the errors a client can provoke."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from corral.core.errors import UnsupportedParameter, UpstreamUnavailable
from corral.core.types import ChatRequest, EmbeddingRequest, Message
from corral.providers.base import ProviderConfig
from corral.providers.local_embed import DIMENSIONS, TOKENIZER_FILE, LocalEmbedProvider, MiniLM
from corral.providers.registry import create_provider

TEXTS = ["The Normans gave their name to Normandy, a region in France.",
         "In what country is Normandy located?",
         "Computational complexity theory classifies problems by their difficulty.",
         ""]


async def test_one_unit_vector_of_384_per_text_in_order(local_embed: LocalEmbedProvider) -> None:
    answer = await local_embed.embed(EmbeddingRequest("all-minilm-l6-v2", TEXTS))
    vectors = np.array(answer.vectors)
    assert vectors.shape == (len(TEXTS), DIMENSIONS) and answer.model == "all-minilm-l6-v2"
    assert np.allclose(np.linalg.norm(vectors[:3], axis=1), 1.0, atol=1e-5)
    assert answer.usage.input_tokens > sum(len(t.split()) for t in TEXTS)  # word pieces, [CLS], [SEP]
    # meaning: the question is closer to its passage than to the unrelated one
    assert vectors[1] @ vectors[0] > vectors[1] @ vectors[2] + 0.2


async def test_the_same_text_gets_the_same_vector_alone_or_in_any_batch(
    local_embed: LocalEmbedProvider,
) -> None:
    batch = (await local_embed.embed(EmbeddingRequest("m", TEXTS[::-1]))).vectors[::-1]
    alone = [(await local_embed.embed(EmbeddingRequest("m", [t]))).vectors[0] for t in TEXTS[:3]]
    assert np.allclose(np.array(batch[:3]), np.array(alone), atol=1e-4), "padding must not leak into vectors"
    again = (await local_embed.embed(EmbeddingRequest("m", TEXTS[:1]))).vectors[0]
    assert again == alone[0]


async def test_long_texts_are_cut_not_refused(local_embed: LocalEmbedProvider) -> None:
    answer = await local_embed.embed(EmbeddingRequest("m", ["word " * 2000]))
    assert len(answer.vectors[0]) == DIMENSIONS and answer.usage.input_tokens == 256


async def test_other_dimensions_and_chat_are_refused_with_the_parameter(
    local_embed: LocalEmbedProvider,
) -> None:
    with pytest.raises(UnsupportedParameter) as exc:
        await local_embed.embed(EmbeddingRequest("m", ["x"], dimensions=128))
    assert exc.value.param == "dimensions"
    assert (await local_embed.embed(EmbeddingRequest("m", ["x"], dimensions=DIMENSIONS))).vectors
    chat = ChatRequest(model="m", messages=[Message("user", "hi")])
    with pytest.raises(UnsupportedParameter, match="embedding model"):
        await local_embed.complete(chat)
    with pytest.raises(UnsupportedParameter):
        _ = [c async for c in local_embed.stream(chat)]


def test_registered_as_a_provider_type_with_validated_options() -> None:
    provider = create_provider(ProviderConfig(name="e", type="local-embed", options={"threads": 2}))
    assert isinstance(provider, LocalEmbedProvider) and provider.capabilities.embeddings
    with pytest.raises(ValueError, match="batch_size"):
        LocalEmbedProvider(ProviderConfig(name="e", type="local-embed", options={"batch_size": 0}))


def test_a_model_file_that_is_not_the_pinned_export_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "model.onnx"
    bogus.write_bytes(b"not a model")
    with pytest.raises(UpstreamUnavailable, match="sha256"):
        MiniLM(bogus, TOKENIZER_FILE, threads=1, batch_size=4, verify=True)


def test_the_model_still_loads_when_usearch_was_imported_first() -> None:
    """usearch's import breaks onnxruntime's graph optimisations for sessions built after it
    (providers/local_embed.py::_session); the model then runs without them."""
    pytest.importorskip("usearch")
    script = textwrap.dedent("""
        import usearch.index
        from corral.providers.local_embed import TOKENIZER_FILE, MiniLM, default_model_path
        vectors, tokens = MiniLM(default_model_path(), TOKENIZER_FILE, 1, 4, verify=True).embed(["x"])
        print(vectors.shape[1], tokens)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(DIMENSIONS), "3"]


def test_loads_and_embeds_with_every_socket_refused() -> None:
    """In a fresh interpreter with no network: load the model from the wheel and embed."""
    script = textwrap.dedent("""
        import asyncio, socket

        def refuse(*args, **kwargs):
            raise OSError("network disabled for this test")

        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        from corral.core.types import EmbeddingRequest
        from corral.providers.base import ProviderConfig
        from corral.providers.local_embed import LocalEmbedProvider
        p = LocalEmbedProvider(ProviderConfig(name="e", type="local-embed"))
        answer = asyncio.run(p.embed(EmbeddingRequest("m", ["offline"])))
        print(len(answer.vectors[0]))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(DIMENSIONS)]
