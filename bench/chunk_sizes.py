"""Chunk size against retrieval quality, on ../shared/data/rag (173 SQuAD 2.0 paragraphs grouped
into one markdown document per article, 473 questions). For each chunking setting: chunks,
then dense retrieval with the built-in embedder (MiniLM-L6 int8, which reads 256 word pieces
of each text) and BM25 (k1 1.2, b 0.75); a question is answered at rank r when the r-th chunk
holds a sentence of its gold paragraph and one of its answers. Reports recall@1/@5 and the
prompt tokens that five chunks cost. Run: .venv/bin/python bench/chunk_sizes.py"""

from __future__ import annotations

import json
import math
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from corral.knowledge.chunking import chunk, split_sentences
from corral.knowledge.parsers import parse
from corral.providers.base import ProviderConfig
from corral.providers.local_embed import LocalEmbedProvider

DATA = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared/data/rag")
SETTINGS = [(800, 400), (400, 100), (200, 40), (200, 0)]


def bm25(docs: list[list[str]], query: list[str]) -> np.ndarray:
    n, avg = len(docs), sum(map(len, docs)) / len(docs)
    df = Counter(t for d in docs for t in set(d))
    scores = np.zeros(n)
    for i, d in enumerate(docs):
        tf = Counter(d)
        for t in query:
            if t in tf:
                idf = math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
                scores[i] += idf * tf[t] * 2.2 / (tf[t] + 1.2 * (0.25 + 0.75 * len(d) / avg))
    return scores


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def main() -> None:
    corpus = json.loads((DATA / "squad2_subset_corpus.json").read_text())
    questions = json.loads((DATA / "squad2_subset_dev_questions.json").read_text())
    gold_sentences = {p["id"]: set(split_sentences(p["text"])) for p in corpus}
    articles: dict[str, list[str]] = defaultdict(list)
    for p in corpus:
        articles[p["title"]].append(p["text"])
    provider = LocalEmbedProvider(ProviderConfig(name="local-embed", type="local-embed"))
    embed = provider._load().embed  # a benchmark reads the model directly, off any event loop
    q_vecs, _ = embed([q["question"] for q in questions])
    print(f"{'max/overlap':>12} {'chunks':>7} {'dense r@1':>9} {'r@5':>6} {'bm25 r@1':>9} {'r@5':>6} "
          f"{'5-chunk tokens':>14}")
    for max_tokens, overlap in SETTINGS:
        chunks = []
        for title, paras in articles.items():
            doc = parse(("# " + title + "\n\n" + "\n\n".join(paras)).encode(), f"{title}.md")
            chunks += chunk(doc, max_tokens=max_tokens, overlap_tokens=overlap, store_id="s", file_id=title)
        vecs, _ = embed([c.text for c in chunks])
        toks = [words(c.text) for c in chunks]
        hits = {"dense": [0, 0], "bm25": [0, 0]}
        for qi, q in enumerate(questions):
            good = [any(s in c.text for s in gold_sentences[q["paragraph_id"]]) and
                    any(a.lower() in c.text.lower() for a in q["answers"] or [""]) for c in chunks]
            for name, scores in (("dense", vecs @ q_vecs[qi]), ("bm25", bm25(toks, words(q["question"])))):
                order = np.argsort(-scores)[:5]
                hits[name][0] += good[order[0]]
                hits[name][1] += any(good[i] for i in order)
        n = len(questions)
        mean = sum(c.tokens for c in chunks) / len(chunks)
        dense, lexical = hits["dense"], hits["bm25"]
        print(f"{max_tokens:>5}/{overlap:<6} {len(chunks):>7} {dense[0] / n:>9.3f} {dense[1] / n:>6.3f} "
              f"{lexical[0] / n:>9.3f} {lexical[1] / n:>6.3f} {5 * mean:>14.0f}")


if __name__ == "__main__":
    main()
