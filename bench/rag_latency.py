"""Search latency of the knowledge index at 1k, 10k and 100k chunks, embedded (SQLite, FTS5 +
usearch graphs) and PostgreSQL (full-text search + pgvector HNSW), and the index's
ingestion throughput.

    .venv/bin/python bench/rag_latency.py [--sizes 1000,10000,100000] [--queries 200]
        [--backends sqlite,postgresql] [--pg-url URL] [--data DIR]

Prints one JSON object. Definitions (also in docs/benchmarks.md, "Retrieval latency"):
- Corpus: the 173 SQuAD paragraphs of `../shared/data/rag/` (CC BY-SA 4.0) with their real
  MiniLM vectors, plus synthetic filler chunks up to each size: 120 words drawn from the
  paragraphs' word frequencies (so query words have realistic posting lists) and vectors near
  1,000 random topic directions (clustered, as embeddings are; embedding 100k passages with
  the local model would take over an hour here). One store holds everything.
- Queries: the first `--queries` dev questions, each once, after 20 warm-up searches.
- Series, k = 10 hits: `lexical` (index.lexical), `dense` (index.dense, query vector given),
  `dense_filtered` (a filter that 1 chunk in 10 passes), `dense_embed` (the query embedded by
  the built-in local model through the gateway, a recorded request, then index.dense),
  `hybrid` (Retriever.search with its defaults: query embedding, 50 lexical and 50 dense
  candidates, fusion, rerank: what /v1/vector_stores/{id}/search runs) with its recall@5 of
  the answering paragraph among the filler (the lexical search runs while the query is
  embedded); `hybrid_sequential`: the same steps with the query embedded first, then both
  searches (how Retriever.search ran them until 2026-12-02: the baseline, same run).
- Ingestion: chunks/s of index.add, 500 chunks a call, vectors given (the index alone; the
  embedding model's passages/s is in bench/rag_quality.py), per size step.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corral.config import LOCAL_EMBED_MODEL_NAME, Settings, default_settings_data
from corral.core.context import Caller
from corral.gateway import Gateway
from corral.knowledge import fusion
from corral.knowledge.embedders import GatewayEmbedder
from corral.knowledge.index_sql import SqlIndex
from corral.knowledge.index_terms import POSTING_BUDGET
from corral.knowledge.indexes import open_index
from corral.knowledge.lexical import STOP_WORDS
from corral.knowledge.rerank import rerank
from corral.knowledge.retriever import Retriever
from corral.knowledge.types import Chunk
from corral.store import Database, migrate
from corral.store.testing import create_pg_schema, drop_pg_schema, pg_test_url, pg_url_with_schema

DEFAULT_DATA = Path(os.environ.get("CORRAL_RAG_DATA",
                                   Path(__file__).resolve().parents[2] / "shared" / "data" / "rag"))
STORE = "vs_bench"
CALLER = Caller("bench", "bench", "bench", frozenset({"inference"}))
BATCH = 500
WARMUP = 20
DIMS = 384
VOCAB = 50_000
WORDS = 120
SHARD = {"type": "eq", "key": "shard", "value": 3}


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50_ms": round(statistics.median(samples) * 1e3, 2), "p95_ms": round(cuts[94] * 1e3, 2)}


class Filler:
    """Synthetic chunks. Words: a Zipf vocabulary of 50,000 (s = 1) in which every 8th rank
    is a word of the real paragraphs, in their own frequency order, the others made-up
    words, plus 30% of the tokens stop words: the paragraphs' common words ("first", "city")
    come out in some percent of the chunks, as in a large corpus, without every topic word
    of five articles being everywhere. Vectors: near 1,000 random topic directions."""

    def __init__(self, texts: Sequence[str], seed: int = 7) -> None:
        self.rng = np.random.default_rng(seed)
        counts = Counter(w for t in texts for w in re.findall(r"\w+", t.lower()))
        stops = [w for w in counts if w in STOP_WORDS]
        self.stops = np.array(stops)
        self.stop_p = np.array([counts[w] for w in stops], dtype=np.float64)
        self.stop_p /= self.stop_p.sum()
        real = [w for w, _ in counts.most_common() if w not in STOP_WORDS]
        vocab = [f"zq{i}" for i in range(VOCAB)]
        for rank, word in enumerate(real[:VOCAB // 8]):
            vocab[rank * 8] = word
        self.words = np.array(vocab)
        zipf = 1.0 / np.arange(1, VOCAB + 1)
        self.p = zipf / zipf.sum()
        topics = self.rng.standard_normal((1000, DIMS))
        self.topics = topics / np.linalg.norm(topics, axis=1, keepdims=True)

    def texts(self, n: int) -> list[str]:
        content = self.words[self.rng.choice(len(self.words), size=(n, WORDS), p=self.p)]
        stops = self.stops[self.rng.choice(len(self.stops), size=(n, WORDS), p=self.stop_p)]
        tokens = np.where(self.rng.random((n, WORDS)) < 0.3, stops, content)
        return [" ".join(row) for row in tokens]

    def make(self, start: int, n: int) -> tuple[list[Chunk], np.ndarray]:
        texts = self.texts(n)
        noise = 0.03 * self.rng.standard_normal((n, DIMS))
        vecs = self.topics[self.rng.integers(0, len(self.topics), n)] + noise
        chunks = [Chunk(id=f"filler-{j}", store_id=STORE, file_id=f"file-{j // BATCH}", text=texts[j - start],
                        position=j % BATCH, attributes={"shard": j % 10}) for j in range(start, start + n)]
        return chunks, (vecs / np.linalg.norm(vecs, axis=1, keepdims=True)).astype(np.float32)


async def timed_add(index: SqlIndex, chunks: Sequence[Chunk], vecs: np.ndarray) -> float:
    """Seconds to add the chunks, BATCH a call."""
    started = time.perf_counter()
    for i in range(0, len(chunks), BATCH):
        await index.add(chunks[i:i + BATCH], vecs[i:i + BATCH])
    return time.perf_counter() - started


async def series(run: Callable[[dict[str, Any]], Awaitable[Any]], questions: Sequence[dict[str, Any]]
                 ) -> tuple[dict[str, float], list[Any]]:
    for q in questions[:WARMUP]:
        await run(q)
    samples, results = [], []
    for q in questions:
        started = time.perf_counter()
        results.append(await run(q))
        samples.append(time.perf_counter() - started)
    return percentiles(samples), results


async def measure(index: SqlIndex, embedder: GatewayEmbedder, questions: Sequence[dict[str, Any]],
                  qvecs: dict[str, list[float]]) -> dict[str, Any]:
    retriever = Retriever(index, embedder)

    async def embed_dense(q: dict[str, Any]) -> Any:
        [vector] = await embedder.embed([q["question"]])
        return await index.dense(STORE, vector, 10)

    async def sequential(q: dict[str, Any]) -> Any:
        """Retriever.search's steps as it ran them before: the query embedded first, then the
        lexical and dense searches together (the baseline for starting lexical during embedding)."""
        opts = retriever.options
        depth = max(opts.candidates, 10)
        [vector] = await embedder.embed([q["question"]])
        lexical, dense = await asyncio.gather(index.lexical(STORE, q["question"], depth),
                                              index.dense(STORE, vector, depth))
        hits = fusion.weighted(lexical, dense, opts.lexical_weight)
        return rerank(q["question"], hits, opts.rerank_weight, depth=max(opts.rerank_depth, 10))[:10]

    out: dict[str, Any] = {}
    out["lexical"], _ = await series(lambda q: index.lexical(STORE, q["question"], 10), questions)
    out["dense"], _ = await series(lambda q: index.dense(STORE, qvecs[q["id"]], 10), questions)
    out["dense_filtered"], _ = await series(lambda q: index.dense(STORE, qvecs[q["id"]], 10, SHARD),
                                            questions)
    out["dense_embed"], _ = await series(embed_dense, questions)
    out["hybrid"], found = await series(lambda q: retriever.search(STORE, q["question"], 10), questions)
    hits = sum(q["paragraph_id"] in [h.chunk.id for h in top[:5]]
               for q, top in zip(questions, found, strict=True))
    out["hybrid"]["recall@5"] = round(hits / len(questions), 3)
    out["hybrid_sequential"], found = await series(sequential, questions)
    hits = sum(q["paragraph_id"] in [h.chunk.id for h in top[:5]]
               for q, top in zip(questions, found, strict=True))
    out["hybrid_sequential"]["recall@5"] = round(hits / len(questions), 3)
    return out


async def open_backend(backend: str, home: Path) -> tuple[Database, Callable[[], Awaitable[None]]]:
    if backend == "sqlite":
        db = await Database.connect(f"sqlite:///{home / 'bench.db'}")
        return db, db.close
    schema = await create_pg_schema()
    db = await Database.connect(pg_url_with_schema(schema))

    async def close() -> None:
        await db.close()
        await drop_pg_schema(schema)
    return db, close


async def run_backend(backend: str, sizes: Sequence[int], paragraphs: list[Chunk], pvecs: np.ndarray,
                      filler: Filler, embedder: GatewayEmbedder, questions: Sequence[dict[str, Any]],
                      qvecs: dict[str, list[float]], budget: int | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        db, close = await open_backend(backend, Path(tmp))
        try:
            await migrate(db)
            index = open_index(db, Path(tmp))
            if budget is not None:
                index.posting_budget = budget
            await index.add(paragraphs, pvecs)
            have, report = len(paragraphs), {}
            for size in sizes:
                chunks, vecs = filler.make(have, size - have)
                seconds = await timed_add(index, chunks, vecs)
                have = size
                if backend == "postgresql":
                    await db.execute("ANALYZE kb_chunks")
                    await db.execute("ANALYZE kb_chunk_refs")
                step = {"ingest_chunks_per_s": round(len(chunks) / seconds, 1), "ingest_chunks": len(chunks)}
                report[str(size)] = {**step, **await measure(index, embedder, questions, qvecs)}
                print(f"{backend} {size}: {json.dumps(report[str(size)])}", file=sys.stderr)
            await index.aclose()
            return report
        finally:
            await close()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    corpus = json.loads((args.data / "squad2_subset_corpus.json").read_text())
    questions = json.loads((args.data / "squad2_subset_dev_questions.json").read_text())[:args.queries]
    paragraphs = [Chunk(id=p["id"], store_id=STORE, file_id=p["title"], text=p["text"], position=i,
                        attributes={"shard": i % 10}) for i, p in enumerate(corpus)]
    with tempfile.TemporaryDirectory() as home:
        settings = Settings.model_validate({**default_settings_data(), "home": home})
        gateway = await Gateway.start(settings, warmup=False, run_jobs=False)
        try:
            embedder = GatewayEmbedder(gateway, LOCAL_EMBED_MODEL_NAME, CALLER, dimensions=DIMS)
            await embedder.embed(["warm-up"])
            pvecs = np.asarray(await embedder.embed([p.text for p in paragraphs]), dtype=np.float32)
            qlist = await embedder.embed([q["question"] for q in questions])
            qvecs = {q["id"]: v for q, v in zip(questions, qlist, strict=True)}
            timings, _ = await series(lambda q: embedder.embed([q["question"]]), questions)
            report: dict[str, Any] = {"sizes": args.sizes, "queries": len(questions), "k": 10,
                                      "posting_budget": args.posting_budget or POSTING_BUDGET,
                                      "cpus": os.cpu_count(), "query_embedding": timings}
            for backend in args.backends:
                report[backend] = await run_backend(backend, args.sizes, paragraphs, pvecs,
                                                    Filler([p.text for p in paragraphs]), embedder, questions,
                                                    qvecs, args.posting_budget)
            return report
        finally:
            await gateway.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000",
                        type=lambda s: sorted(int(x) for x in s.split(",")))
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--backends", default="sqlite,postgresql", type=lambda s: s.split(","))
    parser.add_argument("--pg-url", help="PostgreSQL for the postgresql backend (default: the tests')")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--posting-budget", type=int, help="lexical posting budget (default: the index's)")
    args = parser.parse_args()
    if args.pg_url:
        os.environ["CORRAL_TEST_PG_URL"] = args.pg_url
    print(f"PostgreSQL: {pg_test_url()}", file=sys.stderr)
    print(json.dumps(asyncio.run(run(args)), indent=1))


if __name__ == "__main__":
    main()
