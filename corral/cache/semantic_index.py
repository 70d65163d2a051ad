"""An in-process nearest-neighbour index over cache entries, for the semantic response cache.

Why it exists: a semantic cache answers a request whose last user message *means* the same as
an earlier one (same team, route, system prompt and parameters: the caller folds all of those
into `scope`). Finding "means the same" is a cosine search over the embeddings of earlier
messages; this index holds them and does that search as one matrix-vector product per scope,
with numpy only. No I/O and no awaits, so it is safe to call from the event loop as is (a
search over 2,000 entries of 384 dimensions takes ~45 us, an add ~10 us, measured on 2 cores).

Limits:
- Per process. Entries added by another replica are not seen here. That costs hits, never
  correctness: the index maps a vector to a *key*, and the answer itself lives in the shared
  cache store under that exact key (an entry whose answer has gone is a miss there).
- Exact search, bounded: `max_entries_per_scope` entries per scope (the oldest is evicted when
  full) and `max_scopes` scopes (the least recently used is dropped). A scope's matrix starts
  at 8 rows and doubles, so memory follows use, but the worst case is max_scopes x
  max_entries_per_scope x 4 x dimensions bytes: 30 GB with the defaults at 384 dimensions.
  Size both to the deployment (1,000 busy scopes of 2,000 entries is 3 GB).
- TTLs are checked on search and on add; an expired entry is dropped when it is met.

CHOSEN_THRESHOLD is the cosine measured for the built-in all-MiniLM-L6-v2 model *together with*
the guard (corral.cache.semantic_guard) that each candidate must pass; read its comment before
using it without the guard: cosine alone cannot tell many near misses from paraphrases.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

# bench/semantic_cache_eval.py on bench/data/semantic_cache/pairs.jsonl (572 pairs), retrieval
# simulation, all-MiniLM-L6-v2. Valid ONLY with corral.cache.semantic_guard.compatible() applied
# to each candidate (top 5 by cosine, best that passes): the lowest t with <= 1% dev false hits.
# Held-out test at 0.81 with the guard: 58.7% of paraphrases hit (74/126), 1.7% false hits
# (5/286 queries; dev 66.7% / 0.7%). Cosine alone meets no target up to 0.99 (at 0.99: test 3.2%
# hits, 1.7% false hits); at 0.81 WITHOUT the guard, test false hits are 25.9% (74/286).
CHOSEN_THRESHOLD = 0.81

_INITIAL_ROWS = 8


class _Scope:
    """The entries of one scope: rows of a float32 matrix, with each row's key, expiry and age."""

    __slots__ = ("expires", "keys", "matrix", "rows", "serial", "size")

    def __init__(self, dim: int) -> None:
        self.matrix = np.zeros((_INITIAL_ROWS, dim), dtype=np.float32)
        self.expires = np.zeros(_INITIAL_ROWS, dtype=np.float64)
        self.serial = np.zeros(_INITIAL_ROWS, dtype=np.int64)  # insertion order: smallest is oldest
        self.keys: list[str] = []
        self.rows: dict[str, int] = {}
        self.size = 0

    def put(self, row: int, vector: np.ndarray, key: str, expires: float, serial: int) -> None:
        """Write `row`: an existing row of the same key, or the next free one (size)."""
        if row == self.size:
            self.keys.append(key)
            self.size += 1
        self.matrix[row], self.expires[row], self.serial[row] = vector, expires, serial
        self.rows[key] = row

    def grow(self, limit: int) -> None:
        rows = min(self.matrix.shape[0] * 2, limit)
        self.matrix = _resized(self.matrix, rows)
        self.expires = _resized(self.expires, rows)
        self.serial = _resized(self.serial, rows)

    def drop(self, row: int) -> None:
        """Remove a row by moving the last row into its place."""
        last = self.size - 1
        del self.rows[self.keys[row]]
        if row != last:
            self.matrix[row], self.expires[row], self.serial[row] = (
                self.matrix[last], self.expires[last], self.serial[last])
            self.keys[row] = self.keys[last]
            self.rows[self.keys[row]] = row
        self.keys.pop()
        self.size = last


def _resized(array: np.ndarray, rows: int) -> np.ndarray:
    grown = np.zeros((rows, *array.shape[1:]), dtype=array.dtype)
    grown[: min(rows, array.shape[0])] = array[:rows]
    return grown


class SemanticIndex:
    """Cosine nearest neighbour per scope over unit vectors; see the module docstring."""

    def __init__(self, max_entries_per_scope: int = 2000, max_scopes: int = 10000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_entries_per_scope < 1 or max_scopes < 1:
            raise ValueError("SemanticIndex: max_entries_per_scope and max_scopes must be >= 1")
        self.max_entries_per_scope = max_entries_per_scope
        self.max_scopes = max_scopes
        self._clock = clock
        self._scopes: OrderedDict[str, _Scope] = OrderedDict()  # least recently used first
        self._dim: int | None = None
        self._serial = 0
        self.evictions = 0
        self.expired = 0

    def add(self, scope: str, vector: np.ndarray, key: str, ttl_s: float) -> None:
        """Index `key` under `scope`, replacing an entry with the same key."""
        unit = self._unit(vector)
        entries = self._touch(scope, create=True, dim=unit.shape[0])
        assert entries is not None
        now = self._clock()
        self._serial += 1
        row = entries.rows.get(key)
        if row is None:
            self._drop_expired(entries, now)
            if entries.size >= self.max_entries_per_scope:
                oldest = int(np.argmin(entries.serial[: entries.size]))
                entries.drop(oldest)
                self.evictions += 1
            if entries.size == entries.matrix.shape[0]:
                entries.grow(self.max_entries_per_scope)
            row = entries.size
        entries.put(row, unit, key, now + ttl_s, self._serial)

    def search(self, scope: str, vector: np.ndarray, threshold: float) -> tuple[str, float] | None:
        """(key, cosine) of the most similar live entry with cosine >= threshold, or None."""
        found = self.candidates(scope, vector, threshold, 1)
        return found[0] if found else None

    def candidates(self, scope: str, vector: np.ndarray, threshold: float, k: int) -> list[tuple[str, float]]:
        """Up to `k` (key, cosine) of live entries with cosine >= threshold, most similar first:
        for a caller that checks each candidate further before using one."""
        unit = self._unit(vector)
        entries = self._touch(scope, create=False, dim=unit.shape[0])
        if entries is None or entries.size == 0:
            return []
        self._drop_expired(entries, self._clock())
        if entries.size == 0:
            return []
        scores = entries.matrix[: entries.size] @ unit
        above = np.flatnonzero(scores >= threshold)
        ranked = above[np.argsort(-scores[above], kind="stable")][:k]
        return [(entries.keys[i], float(scores[i])) for i in ranked.tolist()]

    def remove(self, scope: str, key: str) -> None:
        entries = self._scopes.get(scope)
        if entries is not None and key in entries.rows:
            entries.drop(entries.rows[key])

    def remove_keys(self, keys: set[str]) -> int:
        """Remove every row pointing at one of ``keys``, in any scope (erasure: ~1 us a scope)."""
        removed = 0
        for entries in self._scopes.values():
            for row in sorted((entries.rows[k] for k in keys & entries.rows.keys()), reverse=True):
                entries.drop(row)  # backwards: drop() moves the last row into the gap
                removed += 1
        return removed

    def clear_scope(self, scope: str) -> None:
        self._scopes.pop(scope, None)

    def stats(self) -> dict[str, int]:
        """For /metrics: live-or-not-yet-swept entries, scopes, evictions and expiries so far."""
        return {"entries": sum(s.size for s in self._scopes.values()), "scopes": len(self._scopes),
                "evictions": self.evictions, "expired": self.expired}

    def _unit(self, vector: np.ndarray) -> np.ndarray:
        v = np.asarray(vector, dtype=np.float32).reshape(-1)
        if self._dim is not None and v.shape[0] != self._dim:
            raise ValueError(f"SemanticIndex: vector has {v.shape[0]} dimensions, the index holds "
                             f"{self._dim}-dimensional vectors (one embedding model per index)")
        norm = float(np.linalg.norm(v))
        if norm == 0.0 or not np.isfinite(norm):
            raise ValueError("SemanticIndex: cannot index or search a zero or non-finite vector")
        unit: np.ndarray = v / norm
        return unit

    def _touch(self, scope: str, create: bool, dim: int) -> _Scope | None:
        """The scope's entries, marked most recently used; created (evicting the LRU scope) if asked."""
        entries = self._scopes.get(scope)
        if entries is not None:
            self._scopes.move_to_end(scope)
            return entries
        if not create:
            return None
        if len(self._scopes) >= self.max_scopes:
            _, dropped = self._scopes.popitem(last=False)
            self.evictions += dropped.size
        self._dim = dim
        entries = self._scopes[scope] = _Scope(dim)
        return entries

    def _drop_expired(self, entries: _Scope, now: float) -> None:
        dead = np.flatnonzero(entries.expires[: entries.size] <= now)
        for row in dead[::-1].tolist():  # backwards: drop() moves the last row, already checked, up
            entries.drop(row)
        self.expired += len(dead)
