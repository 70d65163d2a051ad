"""The semantic cache's threshold: hits and false hits of the built-in embedding model.

    .venv/bin/python bench/semantic_cache_eval.py [--target 0.01] [--data PATH] [--no-curve]
        [--show-errors dev]

Prints one JSON object. Definitions (the set: bench/data/semantic_cache/README.md):
- Texts: every `a` and `b` of the set, embedded once with the built-in all-MiniLM-L6-v2 int8
  ONNX model in-process (MiniLMSentences, one thread), unit vectors; similarity is cosine.
- Pairwise, per split and threshold t: hit rate = share of paraphrase pairs with cosine >= t;
  false-hit rate = share of near_miss + unrelated pairs with cosine >= t (near_miss alone too).
- Retrieval, per split and threshold t, as the cache would see it: every `a` of the split is
  an entry of one index; each `b` is a query answered by its nearest entry if that cosine is
  >= t. A hit is correct only when the entry is the query's own pair and the pair is a
  paraphrase; any other entry returned is a false hit. Hit rate = correct hits / paraphrase
  queries; false-hit rate = false hits / all queries (each query is a request: the share of
  requests given a wrong answer); near-miss false-hit rate = false hits / near_miss queries.
- Chosen threshold: the lowest t in 0.700, 0.705, ..., 0.990 whose dev retrieval false-hit
  rate is <= --target; its figures on test are the held-out ones. When no t meets the target,
  `chosen_threshold` is null, `target_met` false, and the figures are those of the t with the
  lowest dev false-hit rate (`reported_threshold`; the lowest such t on ties).
- Per kind, at the chosen threshold: false hits / queries of that kind (retrieval), per split.
- Embed time: wall time of embedding all texts (model loaded and warmed first) / texts.
- Two methods, each with its own chosen threshold and figures: `cosine_only` (the above) and
  `cosine_and_guard`: a candidate is served only if cosine >= t AND
  corral.cache.semantic_guard.compatible(query, entry). Pairwise: cosine >= t and compatible.
  Retrieval: the query's top 5 entries by cosine are tried best first; the first that passes
  the guard is returned if its cosine >= t (an entry refused by the guard is passed over).
- Guard refusals, at the method's threshold: candidates with cosine >= t refused, by rule
  (why_not), for pairs (pairwise, per label) and for top-5 retrieval candidates.
- Guard cost: mean wall time of why_not over every pair of both splits, with its per-text
  memo cleared first (cold) and then again (warm: both texts analysed before).
- --show-errors dev: instead of the JSON, a listing of the guarded method's dev errors at its
  threshold (false hits, near misses the guard passed, paraphrases it refused). Dev only: the
  rules are developed on dev and test stays held out.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from corral.cache.semantic_guard import _analyse, why_not  # noqa: E402
from corral.observe.quality.consistency import MiniLMSentences  # noqa: E402

DATA = ROOT / "bench" / "data" / "semantic_cache" / "pairs.jsonl"
THRESHOLDS = [round(0.70 + 0.005 * i, 3) for i in range(59)]  # 0.700 ... 0.990
NEGATIVE = ("near_miss", "unrelated")
TOP_K = 5


def load(path: Path = DATA) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def embed(pairs: list[dict[str, str]], embedder: Any = None) -> tuple[dict[str, np.ndarray], float]:
    """({text: unit vector}, ms per text), the model loaded and warmed before the clock starts."""
    model = embedder or MiniLMSentences()
    texts = list(dict.fromkeys(t for p in pairs for t in (p["a"], p["b"])))
    model(texts[:8])
    start = time.perf_counter()
    vectors = np.asarray(model(texts), dtype=np.float32)
    ms = (time.perf_counter() - start) * 1000 / len(texts)
    return dict(zip(texts, vectors, strict=True)), ms


class Split:
    """One split's pairs, their cosines and each query's nearest entry, for any threshold."""

    def __init__(self, pairs: list[dict[str, str]], vectors: dict[str, np.ndarray],
                 guard: bool = False) -> None:
        self.pairs = pairs
        self.labels = np.array([p["label"] for p in pairs])
        self.kinds = np.array([p["kind"] for p in pairs])
        a = np.stack([vectors[p["a"]] for p in pairs])
        b = np.stack([vectors[p["b"]] for p in pairs])
        self.cosine = np.einsum("ij,ij->i", a, b)
        scores = b @ a.T  # query i (a `b`) against every entry j (an `a`)
        self.guard = guard
        self.refused_pair: list[str | None] = [None] * len(pairs)
        self.refused_top: list[list[tuple[float, str]]] = [[] for _ in pairs]
        if guard:
            self._guarded(scores)
        else:
            self.nearest = scores.argmax(axis=1)
            self.best = scores.max(axis=1)
        own = self.nearest == np.arange(len(pairs))
        self.correct_if_returned = own & (self.labels == "paraphrase")
        self.para = self.labels == "paraphrase"
        self.neg = np.isin(self.labels, NEGATIVE)
        self.near = self.labels == "near_miss"

    def _guarded(self, scores: np.ndarray) -> None:
        """Nearest entry that passes the guard among each query's top TOP_K (best -inf if none)."""
        self.refused_pair = [why_not(p["b"], p["a"]) for p in self.pairs]
        top = np.argsort(-scores, axis=1)[:, :TOP_K]
        self.nearest = top[:, 0].copy()
        self.best = np.full(len(self.pairs), -np.inf, dtype=np.float32)
        for i, row in enumerate(top):
            for j in row:
                rule = why_not(self.pairs[i]["b"], self.pairs[j]["a"])
                if rule is None:
                    self.nearest[i], self.best[i] = j, scores[i, j]
                    break
                self.refused_top[i].append((float(scores[i, j]), rule))

    def pairwise(self, t: float) -> dict[str, float]:
        above = (self.cosine >= t) & np.array([r is None for r in self.refused_pair])
        return {"hit_rate": _share(above, self.para), "false_hit_rate": _share(above, self.neg),
                "near_miss_false_hit_rate": _share(above, self.near)}

    def retrieval(self, t: float) -> dict[str, float]:
        returned = self.best >= t
        correct = returned & self.correct_if_returned
        false = returned & ~self.correct_if_returned
        return {"hit_rate": _share(correct, self.para), "false_hit_rate": round(float(false.mean()), 4),
                "near_miss_false_hit_rate": _share(false, self.near), "false_hits": int(false.sum())}

    def per_kind(self, t: float) -> dict[str, str]:
        """{label/kind: "false hits/queries"} of the retrieval simulation at t."""
        false = (self.best >= t) & ~self.correct_if_returned
        out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for label, kind, f in zip(self.labels, self.kinds, false, strict=True):
            out[f"{label}/{kind}"][0] += int(f)
            out[f"{label}/{kind}"][1] += 1
        return {kind: f"{f}/{n}" for kind, (f, n) in sorted(out.items())}

    def refusals(self, t: float) -> dict[str, dict[str, int]]:
        """Guard refusals by rule of candidates with cosine >= t: pairs per label, top-k entries."""
        out: dict[str, Counter[str]] = defaultdict(Counter)
        for label, cosine, rule, top in zip(self.labels, self.cosine, self.refused_pair, self.refused_top,
                                            strict=True):
            if rule is not None and cosine >= t:
                out[f"pairs/{label}"][rule] += 1
            out["retrieval_candidates"].update(r for score, r in top if score >= t)
        return {k: dict(v.most_common()) for k, v in sorted(out.items())}

    def false_examples(self, t: float, limit: int = 8) -> list[dict[str, Any]]:
        """The false hits with the highest cosine: what the threshold lets through."""
        false = np.flatnonzero((self.best >= t) & ~self.correct_if_returned)
        false = false[np.argsort(-self.best[false])][:limit]
        return [{"query": self.pairs[i]["b"], "returned": self.pairs[self.nearest[i]]["a"],
                 "cosine": round(float(self.best[i]), 3), "id": self.pairs[i]["id"]} for i in false]


def _share(mask: np.ndarray, among: np.ndarray) -> float:
    return round(float(mask[among].mean()), 4) if among.any() else 0.0


def choose(dev: Split, target: float) -> float | None:
    """The lowest threshold whose dev retrieval false-hit rate is <= target."""
    return next((t for t in THRESHOLDS if dev.retrieval(t)["false_hit_rate"] <= target), None)


def least_false(dev: Split) -> float:
    """The lowest threshold with the lowest dev retrieval false-hit rate."""
    return min(THRESHOLDS, key=lambda t: (dev.retrieval(t)["false_hit_rate"], t))


def splits(pairs: list[dict[str, str]], vectors: dict[str, np.ndarray], guard: bool = False,
           names: tuple[str, ...] = ("dev", "test")) -> dict[str, Split]:
    return {name: Split([p for p in pairs if p["split"] == name], vectors, guard) for name in names}


def curve(dev: Split) -> dict[str, Any]:
    """Dev figures per threshold, one line of text per threshold (compact)."""
    rows = []
    for t in THRESHOLDS:
        p, r = dev.pairwise(t), dev.retrieval(t)
        figures = (t, p["hit_rate"], p["false_hit_rate"], p["near_miss_false_hit_rate"], r["hit_rate"],
                   r["false_hit_rate"])
        rows.append(" ".join(f"{x:.3f}" for x in figures))
    return {"columns": "t pair_hit pair_false pair_near_miss_false retrieval_hit retrieval_false",
            "rows": rows}


def method(by_split: dict[str, Split], target: float) -> dict[str, Any]:
    """One method's chosen threshold on dev, and its dev and test figures at that threshold."""
    dev = by_split["dev"]
    chosen = choose(dev, target)
    out: dict[str, Any] = {"chosen_threshold": chosen, "target_met": chosen is not None}
    t = out["reported_threshold"] = chosen if chosen is not None else least_false(dev)
    for name, s in by_split.items():
        out[name] = {"retrieval": s.retrieval(t), "pairwise": s.pairwise(t),
                     "per_kind_false_hits": s.per_kind(t), "worst_false_hits": s.false_examples(t)}
        if s.guard:
            out[name]["guard_refusals"] = s.refusals(t)
    return out


def guard_cost(pairs: list[dict[str, str]]) -> dict[str, float]:
    """Mean microseconds per why_not call over every pair, cold (memo cleared) then warm."""
    out = {}
    for name in ("cold", "warm"):
        if name == "cold":
            _analyse.cache_clear()
        start = time.perf_counter()
        for p in pairs:
            why_not(p["b"], p["a"])
        out[f"{name}_us_per_call"] = round((time.perf_counter() - start) * 1e6 / len(pairs), 1)
    return out


def report(pairs: list[dict[str, str]], target: float, with_curve: bool = True) -> dict[str, Any]:
    vectors, ms = embed(pairs)
    plain, guarded = splits(pairs, vectors), splits(pairs, vectors, guard=True)
    out: dict[str, Any] = {
        "pairs": {name: len(s.pairs) for name, s in plain.items()},
        "texts": len(vectors), "embed_ms_per_text": round(ms, 2), "target_false_hit_rate": target,
        "guard_cost": guard_cost(pairs),
        "cosine_only": method(plain, target), "cosine_and_guard": method(guarded, target),
        "cosine_medians": {name: _medians(s) for name, s in plain.items()},
    }
    if with_curve:
        out["dev_curve"] = {"cosine_only": curve(plain["dev"]), "cosine_and_guard": curve(guarded["dev"])}
    return out


def show_errors(pairs: list[dict[str, str]], target: float) -> None:
    """Print the guarded method's dev errors at its dev threshold, one per line (dev only)."""
    vectors, _ = embed([p for p in pairs if p["split"] == "dev"])
    dev = splits(pairs, vectors, guard=True, names=("dev",))["dev"]
    t = choose(dev, target) or least_false(dev)
    print(f"dev, cosine + guard, t = {t}: {dev.retrieval(t)}")
    print("\n# retrieval false hits (query | returned)")
    for e in dev.false_examples(t, limit=len(dev.pairs)):
        print(f"{e['id']} {e['cosine']} | {e['query']} | {e['returned']}")
    print("\n# near misses the guard passed (any cosine) | # paraphrases the guard refused (any cosine)")
    for p, cosine, rule in zip(dev.pairs, dev.cosine, dev.refused_pair, strict=True):
        if (p["label"] == "near_miss" and rule is None) or (p["label"] == "paraphrase" and rule):
            print(f"{p['id']} {p['kind']} {cosine:.3f} {rule or 'PASSED'} | {p['a']} | {p['b']}")


def _medians(s: Split) -> dict[str, float]:
    return {label: round(float(np.median(s.cosine[s.labels == label])), 3)
            for label in ("paraphrase", *NEGATIVE)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", type=float, default=0.01,
                        help="highest dev false-hit rate (retrieval) allowed for the chosen threshold")
    parser.add_argument("--data", type=Path, default=DATA, help="the labelled pairs (jsonl)")
    parser.add_argument("--no-curve", action="store_true", help="leave out the per-threshold dev curve")
    parser.add_argument("--show-errors", choices=["dev"],
                        help="list the guarded method's errors on the split instead of the JSON")
    args = parser.parse_args()
    if args.show_errors:
        show_errors(load(args.data), args.target)
        return
    print(json.dumps(report(load(args.data), args.target, not args.no_curve), indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
