"""The semantic cache's labelled pairs: well-formed, reproducible, and the chosen threshold's
held-out figures with the guard (bench/semantic_cache_eval.py, test split only; a few seconds)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

from corral.cache.semantic_index import CHOSEN_THRESHOLD

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "bench" / "data" / "semantic_cache"
BENCH = ROOT / "bench" / "semantic_cache_eval.py"
LABELS = {"paraphrase", "near_miss", "unrelated"}
FIELDS = {"id", "domain", "a", "b", "label", "kind", "split"}
# Measured at CHOSEN_THRESHOLD with the guard (corral.cache.semantic_guard) on the test split:
# false hits 5/286 = 1.75%, paraphrase hits 74/126 = 58.7%. The floor is five hits below the
# measure: onnxruntime builds may move a cosine near the threshold by 1e-4, which can move a
# few queries across it or change which of two close entries comes first.
MAX_TEST_FALSE_HIT_RATE = 0.02
MIN_TEST_HIT_RATE = 0.55


def pairs() -> list[dict[str, str]]:
    lines = (DATA / "pairs.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("semantic_cache_eval", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pairs_are_well_formed() -> None:
    data = pairs()
    assert len(data) >= 500
    ids = [p["id"] for p in data]
    assert len(set(ids)) == len(ids)
    for p in data:
        assert set(p) == FIELDS, p["id"]
        assert p["label"] in LABELS and p["split"] in ("dev", "test"), p["id"]
        assert p["a"].strip() and p["b"].strip() and p["a"] != p["b"] and p["kind"], p["id"]
    labels = Counter(p["label"] for p in data)
    assert labels["paraphrase"] >= 220 and labels["near_miss"] >= 220 and labels["unrelated"] > 0
    both = {(label, split) for label in LABELS for split in ("dev", "test")}
    assert {(p["label"], p["split"]) for p in data} == both


def test_no_pair_appears_twice() -> None:
    data = pairs()
    unordered = [frozenset((p["a"], p["b"])) for p in data]
    assert len(set(unordered)) == len(unordered)


def test_splits_are_stratified() -> None:
    counts = Counter((p["label"], p["split"]) for p in pairs())
    for label in LABELS:
        assert abs(counts[label, "dev"] - counts[label, "test"]) <= 7, label


def test_the_file_is_what_build_py_writes() -> None:
    result = subprocess.run([sys.executable, str(DATA / "build.py"), "--check"], timeout=30)
    assert result.returncode == 0, "pairs.jsonl is stale: run bench/data/semantic_cache/build.py"


def test_chosen_threshold_on_the_test_split() -> None:
    pytest.importorskip("onnxruntime")
    bench = load_bench()
    test_pairs = [p for p in pairs() if p["split"] == "test"]
    vectors, _ = bench.embed(test_pairs)
    retrieval = bench.Split(test_pairs, vectors, guard=True).retrieval(CHOSEN_THRESHOLD)
    assert retrieval["false_hit_rate"] <= MAX_TEST_FALSE_HIT_RATE, retrieval
    assert retrieval["hit_rate"] >= MIN_TEST_HIT_RATE, retrieval
