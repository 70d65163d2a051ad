"""The vector indexes considered for the embedded knowledge index, side by side.

    python bench/vector_candidates.py [N] [--only usearch,faiss,...]

Prints one JSON object. Run it in a scratch virtualenv holding the candidates (only usearch
is a Corral dependency): `pip install --only-binary :all: numpy usearch faiss-cpu sqlite-vec
apsw` (hnswlib publishes no wheel, so it is not a candidate). A candidate that does not import
is reported as missing.

- Data: N vectors of 384 dimensions (all-MiniLM-L6-v2's), clustered as embeddings are (N/100
  random centres, noise 0.6 per component, normalised), 200 queries drawn alike; truth is the
  exact top 10 by cosine.
- Per candidate: build time (2 threads), single-query latency p50/p95 on one thread, recall@10,
  save and load time, file size, and whether vectors can be removed in place.
- sqlite-vec runs through apsw: the stdlib sqlite3 of this Python cannot load extensions.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

D, Q, K = 384, 200, 10


def data(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((max(n // 100, 10), D)).astype(np.float32)

    def sample(m: int) -> np.ndarray:
        x = centres[rng.integers(0, len(centres), m)] + 0.6 * rng.standard_normal((m, D)).astype(np.float32)
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    x, q = sample(n), sample(Q)
    return x, q, np.argsort(-(q @ x.T), axis=1)[:, :K]


def timed_queries(search: Callable[[np.ndarray], list[int]], queries: np.ndarray,
                  truth: np.ndarray) -> dict[str, float]:
    times, recall = [], []
    for query, want in zip(queries, truth, strict=True):
        started = time.perf_counter()
        found = search(query)
        times.append(time.perf_counter() - started)
        recall.append(len(set(found) & set(want.tolist())) / K)
    times.sort()
    p50, p95 = times[len(times) // 2], times[int(len(times) * 0.95)]
    return {"p50_ms": round(p50 * 1e3, 3), "p95_ms": round(p95 * 1e3, 3),
            "recall@10": round(float(np.mean(recall)), 3)}


def usearch(x: np.ndarray, q: np.ndarray, truth: np.ndarray, dtype: str) -> dict[str, Any]:
    from usearch.index import Index

    index = Index(ndim=D, metric="cos", dtype=dtype)
    started = time.perf_counter()
    index.add(np.arange(len(x)), x, threads=2)
    out: dict[str, Any] = {"build_s": round(time.perf_counter() - started, 2)}
    out |= timed_queries(lambda v: [int(k) for k in index.search(v, K, threads=1).keys], q, truth)
    path = os.path.join(tempfile.mkdtemp(), "index.usearch")
    started = time.perf_counter()
    index.save(path)
    out["save_s"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    Index.restore(path)
    out["load_s"] = round(time.perf_counter() - started, 2)
    out |= {"file_mb": round(os.path.getsize(path) / 1e6, 1), "memory_mb": round(index.memory_usage / 1e6, 1),
            "removes": True}
    return out


def faiss_hnsw(x: np.ndarray, q: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    import faiss

    faiss.omp_set_num_threads(2)
    index = faiss.IndexHNSWFlat(D, 32, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 128
    started = time.perf_counter()
    index.add(x)
    out: dict[str, Any] = {"build_s": round(time.perf_counter() - started, 2)}
    faiss.omp_set_num_threads(1)
    index.hnsw.efSearch = 64
    out |= timed_queries(lambda v: index.search(v[None, :], K)[1][0].tolist(), q, truth)
    path = os.path.join(tempfile.mkdtemp(), "index.faiss")
    faiss.write_index(index, path)
    return out | {"file_mb": round(os.path.getsize(path) / 1e6, 1), "removes": False}


def sqlite_vec(x: np.ndarray, q: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    import apsw
    import sqlite_vec as vec

    con = apsw.Connection(":memory:")
    con.enable_load_extension(True)
    con.load_extension(vec.loadable_path())
    con.execute(f"CREATE VIRTUAL TABLE v USING vec0(embedding float[{D}] distance_metric=cosine)")
    started = time.perf_counter()
    with con:
        con.executemany("INSERT INTO v(rowid, embedding) VALUES (?, ?)",
                        ((i, row.tobytes()) for i, row in enumerate(x)))
    out: dict[str, Any] = {"build_s": round(time.perf_counter() - started, 2), "exact": True, "removes": True}
    sql = "SELECT rowid FROM v WHERE embedding MATCH ? AND k = ? ORDER BY distance"
    found = timed_queries(lambda v: [r[0] for r in con.execute(sql, (v.tobytes(), K))], q[:50], truth[:50])
    return out | found


def numpy_exact(x: np.ndarray, q: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    def search(v: np.ndarray) -> list[int]:
        sims = x @ v
        top = np.argpartition(-sims, K)[:K]
        return top[np.argsort(-sims[top])].tolist()
    return {"exact": True} | timed_queries(search, q, truth)


CANDIDATES: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], dict[str, Any]]] = {
    "usearch_f32": lambda x, q, t: usearch(x, q, t, "f32"),
    "usearch_f16": lambda x, q, t: usearch(x, q, t, "f16"),
    "faiss_hnsw32": faiss_hnsw,
    "sqlite_vec": sqlite_vec,
    "numpy_exact": numpy_exact,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=100_000)
    parser.add_argument("--only", type=lambda s: s.split(","), default=list(CANDIDATES))
    args = parser.parse_args()
    x, q, truth = data(args.n)
    report: dict[str, Any] = {"n": args.n, "dimensions": D, "cpus": os.cpu_count()}
    for name in args.only:
        try:
            report[name] = CANDIDATES[name](x, q, truth)
        except ImportError as e:
            report[name] = {"missing": str(e)}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
