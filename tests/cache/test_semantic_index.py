"""SemanticIndex: scopes, replace-by-key, thresholds, TTLs, eviction of entries and scopes."""

from __future__ import annotations

import numpy as np
import pytest

from corral.cache.semantic_index import SemanticIndex


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def unit(i: int, dim: int = 8) -> np.ndarray:
    v = np.zeros(dim, dtype=np.float32)
    v[i] = 1.0
    return v


def test_finds_the_nearest_entry_and_normalises() -> None:
    index = SemanticIndex()
    index.add("s", unit(0) * 5, "k0", ttl_s=60)
    index.add("s", unit(1), "k1", ttl_s=60)
    found = index.search("s", np.array([0.1, 3.0, 0, 0, 0, 0, 0, 0]), threshold=0.9)
    assert found is not None and found[0] == "k1" and found[1] == pytest.approx(0.99944, abs=1e-4)


def test_threshold_is_respected() -> None:
    index = SemanticIndex()
    index.add("s", unit(0), "k", ttl_s=60)
    query = np.array([1.0, 1.0, 0, 0, 0, 0, 0, 0])  # cosine 0.7071
    assert index.search("s", query, threshold=0.71) is None
    found = index.search("s", query, threshold=0.70)
    assert found is not None and found[0] == "k" and found[1] == pytest.approx(0.70711, abs=1e-4)
    assert index.search("s", unit(0), threshold=1.0) is not None  # >=, and float32 exact on a unit vector


def test_scopes_are_isolated() -> None:
    index = SemanticIndex()
    index.add("team-a/route", unit(0), "a", ttl_s=60)
    assert index.search("team-b/route", unit(0), threshold=0.0) is None
    index.add("team-b/route", unit(1), "b", ttl_s=60)
    assert index.search("team-b/route", unit(0), threshold=-1.0) == ("b", 0.0)
    assert index.search("team-a/route", unit(0), threshold=0.5) == ("a", 1.0)


def test_same_key_replaces_the_entry() -> None:
    index = SemanticIndex()
    index.add("s", unit(0), "k", ttl_s=60)
    index.add("s", unit(1), "k", ttl_s=60)
    assert index.stats()["entries"] == 1
    assert index.search("s", unit(0), threshold=0.5) is None
    assert index.search("s", unit(1), threshold=0.5) == ("k", 1.0)


def test_expired_entries_are_skipped_and_dropped() -> None:
    clock = Clock()
    index = SemanticIndex(clock=clock)
    index.add("s", unit(0), "short", ttl_s=10)
    index.add("s", np.array([1.0, 0.2, 0, 0, 0, 0, 0, 0]), "long", ttl_s=100)
    assert index.search("s", unit(0), threshold=0.5) == ("short", 1.0)
    clock.now += 10
    found = index.search("s", unit(0), threshold=0.5)
    assert found is not None and found[0] == "long"
    assert index.stats() == {"entries": 1, "scopes": 1, "evictions": 0, "expired": 1}
    clock.now += 100
    assert index.search("s", unit(0), threshold=0.0) is None
    assert index.stats()["expired"] == 2


def test_full_scope_evicts_its_oldest_entry_and_grows_past_the_first_block() -> None:
    index = SemanticIndex(max_entries_per_scope=20)
    for i in range(25):
        index.add("s", np.eye(32, dtype=np.float32)[i], f"k{i}", ttl_s=60)
    assert index.stats() == {"entries": 20, "scopes": 1, "evictions": 5, "expired": 0}
    for i in range(5):
        assert index.search("s", np.eye(32)[i], threshold=0.5) is None
    for i in range(5, 25):
        assert index.search("s", np.eye(32)[i], threshold=0.5) == (f"k{i}", 1.0)


def test_replacing_refreshes_age_for_eviction() -> None:
    index = SemanticIndex(max_entries_per_scope=2)
    index.add("s", unit(0), "old", ttl_s=60)
    index.add("s", unit(1), "newer", ttl_s=60)
    index.add("s", unit(0), "old", ttl_s=60)  # re-added: now the newest
    index.add("s", unit(2), "third", ttl_s=60)
    assert index.search("s", unit(1), threshold=0.5) is None
    assert index.search("s", unit(0), threshold=0.5) == ("old", 1.0)


def test_least_recently_used_scope_is_dropped() -> None:
    index = SemanticIndex(max_scopes=2)
    index.add("a", unit(0), "ka", ttl_s=60)
    index.add("b", unit(0), "kb", ttl_s=60)
    assert index.search("a", unit(0), threshold=0.5) is not None  # "a" used: "b" is now the LRU
    index.add("c", unit(0), "kc", ttl_s=60)
    assert index.search("b", unit(0), threshold=0.5) is None
    assert index.search("a", unit(0), threshold=0.5) == ("ka", 1.0)
    assert index.stats() == {"entries": 2, "scopes": 2, "evictions": 1, "expired": 0}


def test_remove_and_clear_scope() -> None:
    index = SemanticIndex()
    for i in range(3):
        index.add("s", unit(i), f"k{i}", ttl_s=60)
    index.remove("s", "k0")
    index.remove("s", "missing")
    index.remove("other", "k1")
    assert index.search("s", unit(0), threshold=0.5) is None
    assert index.search("s", unit(2), threshold=0.5) == ("k2", 1.0)
    index.clear_scope("s")
    assert index.stats()["scopes"] == 0 and index.search("s", unit(2), threshold=0.0) is None


def test_dimension_mismatch_raises_a_clear_error() -> None:
    index = SemanticIndex()
    index.add("s", unit(0, dim=384), "k", ttl_s=60)
    with pytest.raises(ValueError, match="vector has 8 dimensions, the index holds 384-dimensional"):
        index.search("s", unit(0, dim=8), threshold=0.5)
    with pytest.raises(ValueError, match="8 dimensions"):
        index.add("t", unit(0, dim=8), "k", ttl_s=60)
    with pytest.raises(ValueError, match="zero"):
        index.add("s", np.zeros(384), "z", ttl_s=60)
