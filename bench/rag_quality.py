"""Retrieval quality of the default knowledge-base pipeline on the SQuAD development set.

    .venv/bin/python bench/rag_quality.py [--data DIR] [--grid] [--index memory|gateway]

Prints one JSON object. Definitions (also in docs/benchmarks.md, "Retrieval quality"):
- Data: `../shared/data/rag/` (CC BY-SA 4.0): 173 paragraphs of 5 Wikipedia articles, each a
  chunk of one store; 473 questions, each answered by one paragraph (its relevant chunk).
- Pipeline: a real Gateway with the default configuration; the built-in `all-minilm-l6-v2`
  route embeds through `GatewayEmbedder` (so every call is a recorded request), chunks sit in
  `MemoryIndex` (BM25 + exact cosine), `Retriever` searches with its default options.
- Metrics per question set: recall@1 and recall@5 (the relevant chunk among the first 1 / 5
  hits), MRR@10 (1 / its rank within the first 10, else 0), answer@5 (one of the first 5 hits
  holds one of the question's answers, as the data's README suggests: what a grounded answer
  can use).
- Split, fixed before tuning: a question is in the tune half when sha1(paragraph_id) is even
  (a paragraph's questions never straddle the halves). Fusion and rerank weights were chosen
  on `tune`; `test` is the honest figure. `--grid` prints the grid the choice came from.
- Anchors measured in the same run: BM25 alone, dense alone, reciprocal rank fusion of both,
  weighted fusion without the rerank step.
- `--index gateway`: the same on the index the gateway's database gets (SQLite: FTS5 + vector
  graph; PostgreSQL with CORRAL_DATABASE_URL: full-text search + pgvector) instead of the
  in-memory reference, to see what a backend's lexical scoring does to the fused ranking.
- Speed: the model's passages/s and queries/s through the gateway (one request per 64 texts),
  and the time of one whole search (query embedding included), after warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corral.config import LOCAL_EMBED_MODEL_NAME, Settings, default_settings_data
from corral.core.context import Caller
from corral.gateway import Gateway
from corral.knowledge.embedders import GatewayEmbedder
from corral.knowledge.index_memory import MemoryIndex
from corral.knowledge.retriever import RetrievalOptions, Retriever
from corral.knowledge.types import Chunk, Hit, Index

DEFAULT_DATA = Path(os.environ.get("CORRAL_RAG_DATA",
                                   Path(__file__).resolve().parents[2] / "shared" / "data" / "rag"))
STORE = "vs_squad"
CALLER = Caller("bench", "bench", "bench", frozenset({"inference"}))
Search = Callable[[dict[str, Any]], Awaitable[list[Hit]]]


def load(data: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    corpus = json.loads((data / "squad2_subset_corpus.json").read_text())
    questions = json.loads((data / "squad2_subset_dev_questions.json").read_text())
    return corpus, questions


def in_tune_half(question: dict[str, Any]) -> bool:
    return int(hashlib.sha1(question["paragraph_id"].encode()).hexdigest(), 16) % 2 == 0


def chunks_of(corpus: Sequence[dict[str, Any]]) -> list[Chunk]:
    return [Chunk(id=p["id"], store_id=STORE, file_id=p["title"], text=p["text"], position=i,
                  heading_path=(p["title"],), content_hash=hashlib.sha256(p["text"].encode()).hexdigest(),
                  attributes={"article": p["title"]})
            for i, p in enumerate(corpus)]


Ranks = tuple[int | None, int | None]  # 0-based: the relevant chunk, the first hit holding an answer


def metrics(ranks: Sequence[Ranks]) -> dict[str, float]:
    """recall@1, recall@5, MRR@10 of the relevant chunk; answer@5: one of the first 5 hits
    holds one of the question's answers (the relevant chunk or another)."""
    n = len(ranks) or 1

    def share(test: Any) -> float:
        return round(sum(1 for r in ranks if test(r)) / n, 3)

    return {
        "recall@1": share(lambda r: r[0] is not None and r[0] < 1),
        "recall@5": share(lambda r: r[0] is not None and r[0] < 5),
        "mrr@10": round(sum(1 / (r[0] + 1) for r in ranks if r[0] is not None and r[0] < 10) / n, 3),
        "answer@5": share(lambda r: r[1] is not None and r[1] < 5),
    }


async def evaluate(search: Search, questions: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    ranks: list[Ranks] = []
    for q in questions:
        hits = await search(q)
        ids = [h.chunk.id for h in hits]
        holding = [i for i, h in enumerate(hits) if any(a in h.chunk.text for a in q["answers"])]
        ranks.append((ids.index(q["paragraph_id"]) if q["paragraph_id"] in ids else None,
                      holding[0] if holding else None))
    tune = [r for r, q in zip(ranks, questions, strict=True) if in_tune_half(q)]
    test = [r for r, q in zip(ranks, questions, strict=True) if not in_tune_half(q)]
    return {"all": metrics(ranks), "tune": metrics(tune), "test": metrics(test)}


class Cached:
    """Query vectors embedded once (through the gateway), so the variants compare ranking only."""

    def __init__(self, embedder: GatewayEmbedder, vectors: dict[str, list[float]]) -> None:
        self.inner, self.vectors = embedder, vectors
        self.name, self.dimensions = embedder.name, embedder.dimensions

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        missing = [t for t in texts if t not in self.vectors]
        if missing:
            self.vectors.update(zip(missing, await self.inner.embed(missing), strict=True))
        return [self.vectors[t] for t in texts]


async def timed_embed(embedder: GatewayEmbedder, texts: Sequence[str]) -> tuple[list[list[float]], float]:
    start = time.perf_counter()
    vectors = await embedder.embed(texts)
    return vectors, len(texts) / (time.perf_counter() - start)


def variants(index: Index, cached: Cached) -> dict[str, Search]:
    def retriever(**options: Any) -> Search:
        r = Retriever(index, cached, RetrievalOptions(**options))
        return lambda q: r.search(STORE, q["question"], k=10)

    async def bm25(q: dict[str, Any]) -> list[Hit]:
        return await index.lexical(STORE, q["question"], 10)

    async def dense(q: dict[str, Any]) -> list[Hit]:
        [vector] = await cached.embed([q["question"]])
        return await index.dense(STORE, vector, 10)

    return {
        "bm25": bm25,
        "dense": dense,
        "rrf": retriever(fusion="rrf", rerank_weight=0.0),
        "weighted": retriever(rerank_weight=0.0),
        "default": retriever(),
    }


async def grid(index: Index, cached: Cached, questions: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The tune-half figures behind the defaults: lexical weight x rerank weight x candidates."""
    out: dict[str, Any] = {}
    for candidates in (10, 20, 50):
        for lexical in (0.2, 0.3, 0.4, 0.5):
            for rerank in (0.0, 0.2, 0.5, 0.7, 1.0):
                for depth in (10, 20, 100):
                    options = RetrievalOptions(lexical_weight=lexical, rerank_weight=rerank,
                                               candidates=candidates, rerank_depth=depth)
                    r = Retriever(index, cached, options)
                    found = await evaluate(lambda q, r=r: r.search(STORE, q["question"], k=10),  # type: ignore[misc]
                                           questions)
                    name = f"candidates={candidates} lexical={lexical} rerank={rerank} depth={depth}"
                    out[name] = found["tune"]
    return out


async def search_latency(retriever: Retriever, questions: Sequence[dict[str, Any]]) -> dict[str, float]:
    times = []
    for q in questions[:100]:
        start = time.perf_counter()
        await retriever.search(STORE, q["question"] + " ?", k=10)  # a new text: embedded for real
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"p50_ms": round(statistics.median(times), 1), "p95_ms": round(times[int(len(times) * 0.95)], 1)}


async def open_index(kind: str, gateway: Gateway, home: str) -> Index:
    if kind == "memory":
        return MemoryIndex()
    from corral.knowledge.indexes import open_index as gateway_index  # the SQLite / PostgreSQL indexes

    index = gateway_index(gateway.db, Path(home))
    await index.delete_store(STORE)  # a PostgreSQL database may keep a previous run's store
    return index


async def run(data: Path, with_grid: bool, index_kind: str = "memory") -> dict[str, Any]:
    corpus, questions = load(data)
    with tempfile.TemporaryDirectory() as home:
        url = os.environ.get("CORRAL_DATABASE_URL") if index_kind == "gateway" else None
        settings = Settings.model_validate({**default_settings_data(), "home": home, "database_url": url})
        gateway = await Gateway.start(settings, warmup=False, run_jobs=False)
        try:
            embedder = GatewayEmbedder(gateway, LOCAL_EMBED_MODEL_NAME, CALLER, dimensions=384)
            await embedder.embed(["warm-up"])
            chunks = chunks_of(corpus)
            vectors, passages_per_s = await timed_embed(embedder, [c.text for c in chunks])
            index = await open_index(index_kind, gateway, home)
            await index.add(chunks, vectors)
            query_vectors, queries_per_s = await timed_embed(embedder, [q["question"] for q in questions])
            asked = [q["question"] for q in questions]
            cached = Cached(embedder, dict(zip(asked, query_vectors, strict=True)))
            report: dict[str, Any] = {
                "index": type(index).__name__,
                "data": {"chunks": len(chunks), "questions": len(questions),
                         "tune": sum(map(in_tune_half, questions)),
                         "test": sum(not in_tune_half(q) for q in questions)},
                "embedder": {"route": LOCAL_EMBED_MODEL_NAME, "passages_per_s": round(passages_per_s, 1),
                             "queries_per_s": round(queries_per_s, 1)},
                "options": {k: getattr(RetrievalOptions(), k) for k in RetrievalOptions.__slots__},
            }
            report["quality"] = {name: await evaluate(search, questions)
                                 for name, search in variants(index, cached).items()}
            report["search"] = await search_latency(Retriever(index, embedder), questions)
            if with_grid:
                report["grid_tune"] = await grid(index, cached, questions)
            report["load_average"] = [round(x, 2) for x in os.getloadavg()]
            return report
        finally:
            await gateway.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--grid", action="store_true", help="also print the tuning grid (tune half)")
    parser.add_argument("--index", choices=("memory", "gateway"), default="memory")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.data, args.grid, args.index)), indent=2))


if __name__ == "__main__":
    main()
