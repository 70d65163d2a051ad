"""Sampled answer-quality scores, computed off the request path.

:meth:`QualityScorer.observe` is called with each finished :class:`RequestRecord`; it
never waits: a sampled share of successful records whose route has golden examples (or
that carry a factual-consistency score, or when a consistency scorer is registered) is
queued, and a background task scores them:

* **similarity** — the nearest golden question to the prompt (embedding cosine) picks a
  golden example; the score is the cosine similarity of the answer to its golden answer,
  clipped to 0..1. Prompts not close to any golden question are not scored.
* **consistency** — ``record.extras["consistency_score"]`` (0..1) if present, else the mean
  of the scorers registered with :meth:`QualityScorer.register_consistency_scorer`.

Scores roll up per (route, model) as an EWMA plus a count (:meth:`snapshot`,
:meth:`drops`) and are written in batches to ``quality_scores``. A full queue or a failed
write drops and counts; nothing here raises into a request.

Scoring needs the prompt and answer text on the record, i.e. content capture on.

Embeddings come from ``wordllama`` (MIT), whose 256-d ``l2_supercat`` weights and tokenizer
ship inside the wheel; they are loaded from the package directory, never downloaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from corral.core.batching import BatchWorker
from corral.observe.quality.embedding import default_embedder
from corral.observe.quality.golden import GoldenExample, GoldenStore
from corral.observe.quality.scores import QualityScore, QualityScoreStore
from corral.observe.record import RequestRecord
from corral.store.db import Database

log = logging.getLogger("corral.observe.quality")

EmbedFn = Callable[[Sequence[str]], np.ndarray]
ConsistencyFn = Callable[[RequestRecord], "float | Awaitable[float | None] | None"]
KINDS = ("similarity", "consistency")


def _message_text(message: Any) -> str | None:
    if isinstance(message, Mapping):
        role, content = message.get("role"), message.get("content")
        if role != "user":
            return None
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return " ".join(p.get("text", "") for p in content if isinstance(p, Mapping))
        return None
    if getattr(message, "role", None) != "user":
        return None
    text = getattr(message, "text", None)
    return text() if callable(text) else None


def prompt_text(prompt: Any) -> str | None:
    """The last user message of a captured prompt (Message objects, dicts or a string)."""
    if isinstance(prompt, str):
        return prompt or None
    if isinstance(prompt, Sequence):
        for message in reversed(prompt):
            text = _message_text(message)
            if text and text.strip():
                return text
    return None


def _unit_score(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value) if 0.0 <= value <= 1.0 else None


# --- persistence ------------------------------------------------------------------------------

class ScoreWriter(Protocol):
    async def add_many(self, scores: Iterable[QualityScore]) -> int: ...


class GoldenSource(Protocol):
    async def by_route(self) -> dict[str, list[GoldenExample]]: ...


# --- rolling aggregates -------------------------------------------------------------------------

@dataclass(slots=True)
class Rolling:
    ewma: float = 0.0
    count: int = 0
    last: float = 0.0

    def add(self, value: float, alpha: float) -> None:
        self.ewma = value if self.count == 0 else alpha * value + (1 - alpha) * self.ewma
        self.count += 1
        self.last = value


@dataclass(slots=True)
class _GoldenIndex:
    ids: list[int]
    questions: np.ndarray  # (k, d), normalised
    answers: np.ndarray  # (k, d), normalised


def _rolling_order(item: tuple[tuple[str, str | None, str], Rolling]) -> tuple[str, str, str]:
    route, model, kind = item[0]
    return route, model or "", kind


# --- the scorer ---------------------------------------------------------------------------------

class QualityScorer(BatchWorker[RequestRecord]):
    """Samples finished records, scores them in the background, keeps rolling quality."""

    def __init__(
        self,
        golden: GoldenSource | Database,
        *,
        sample_rate: float = 0.05,
        writer: ScoreWriter | Database | None = None,
        embed: EmbedFn | None = None,
        alpha: float = 0.1,
        min_question_similarity: float = 0.5,
        max_queue: int = 1000,
        batch_size: int = 100,
        golden_refresh_s: float = 60.0,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if not 0.0 <= sample_rate <= 1.0:
            raise ValueError(f"sample_rate must be within 0..1, got {sample_rate}")
        self.golden: GoldenSource = GoldenStore(golden) if isinstance(golden, Database) else golden
        self.writer: ScoreWriter | None = (
            QualityScoreStore(writer) if isinstance(writer, Database) else writer
        )
        self.sample_rate = sample_rate
        self.alpha = alpha
        self.min_question_similarity = min_question_similarity
        super().__init__(max_queue=max_queue, batch_size=batch_size)
        self.golden_refresh_s = golden_refresh_s
        self._embed = embed or default_embedder()
        self._rand = rand
        self._consistency_fns: list[ConsistencyFn] = []
        self._index: dict[str, _GoldenIndex] = {}
        self._vectors: dict[int, tuple[str, str, np.ndarray, np.ndarray]] = {}  # id -> q, a, vectors
        self._golden_loaded_at: float | None = None
        self._rolling: dict[tuple[str, str | None, str], Rolling] = {}
        self.counters.update({
            "seen": 0, "not_eligible": 0, "not_sampled": 0, "queued": 0,
            "scored": 0, "skipped_no_content": 0, "skipped_no_match": 0, "score_errors": 0,
            "written": 0, "write_errors": 0, "dropped_write_failed": 0,
        })

    # -- request path (sync, never waits) --

    def register_consistency_scorer(self, fn: ConsistencyFn) -> None:
        """``fn(record) -> float | None`` (0..1, may be async), run in the background for sampled
        records that carry no ``extras["consistency_score"]``; the mean of the results counts."""
        self._consistency_fns.append(fn)

    def observe(self, record: RequestRecord) -> bool:
        """Queue ``record`` for scoring if eligible and sampled; never raises, never waits."""
        try:
            self.counters["seen"] += 1
            eligible = record.status == "ok" and (
                record.route in self._index
                or bool(self._consistency_fns)
                or _unit_score(record.extras.get("consistency_score")) is not None
            )
            if not eligible:
                self.counters["not_eligible"] += 1
                return False
            if self._rand() >= self.sample_rate:
                self.counters["not_sampled"] += 1
                return False
            if not self._offer(record):
                return False
        except Exception:  # bookkeeping must never fail a request
            log.exception("quality: could not observe a record")
            return False
        self.counters["queued"] += 1
        return True

    # -- reads --

    def snapshot(self) -> list[dict[str, Any]]:
        """Rolling quality per (route, model, kind): ``ewma``, ``count``, ``last``."""
        return [
            {"route": route, "model": model, "kind": kind, "ewma": r.ewma, "count": r.count, "last": r.last}
            for (route, model, kind), r in sorted(self._rolling.items(), key=_rolling_order)
        ]

    def drops(self, threshold: float, *, kind: str = "similarity", min_count: int = 5
              ) -> list[tuple[str, str | None, float]]:
        """(route, model, ewma) whose rolling ``kind`` score is below ``threshold`` after at
        least ``min_count`` scores; lowest first. For quality-drop alerts."""
        found = [(route, model, r.ewma) for (route, model, k), r in self._rolling.items()
                 if k == kind and r.count >= min_count and r.ewma < threshold]
        return sorted(found, key=lambda t: t[2])

    def stats(self) -> dict[str, int]:
        return {**self.counters, "pending": self.pending}

    task_name = "corral-quality-scorer"

    async def refresh_golden(self) -> None:
        """Reload golden examples and embed new ones (done by the background task every
        ``golden_refresh_s``; call directly to pick up changes at once)."""
        grouped = await self.golden.by_route()
        missing = [e for examples in grouped.values() for e in examples
                   if e.id is None or self._vectors.get(e.id, ("", ""))[:2] != (e.question, e.answer)]
        if missing:
            texts = [e.question for e in missing] + [e.answer for e in missing]
            vectors = await asyncio.to_thread(self._embed, texts)
            n = len(missing)
            for i, e in enumerate(missing):
                if e.id is not None:
                    self._vectors[e.id] = (e.question, e.answer, vectors[i], vectors[n + i])
        live = {e.id for examples in grouped.values() for e in examples}
        for stale in set(self._vectors) - live:
            del self._vectors[stale]
        index: dict[str, _GoldenIndex] = {}
        for route, examples in grouped.items():
            ids = [e.id for e in examples if e.id in self._vectors]
            if ids:
                index[route] = _GoldenIndex(
                    ids=ids,  # ints: only ids in self._vectors
                    questions=np.stack([self._vectors[i][2] for i in ids]),
                    answers=np.stack([self._vectors[i][3] for i in ids]),
                )
        self._index = index
        self._golden_loaded_at = time.monotonic()

    # -- background work --

    async def _before_loop(self) -> None:
        with contextlib.suppress(Exception):
            await self._maybe_refresh()

    async def _maybe_refresh(self) -> None:
        loaded = self._golden_loaded_at
        if loaded is None or time.monotonic() - loaded >= self.golden_refresh_s:
            try:
                await self.refresh_golden()
            except Exception as exc:  # noqa: BLE001 - keep the old index
                self._golden_loaded_at = time.monotonic()
                log.warning("quality: could not load golden examples: %s", exc)

    async def _handle(self, batch: list[RequestRecord]) -> bool:
        await self._maybe_refresh()
        scores: list[QualityScore] = []
        for record in batch:
            try:
                scores.extend(await self.score(record))
            except Exception as exc:  # noqa: BLE001
                self.counters["score_errors"] += 1
                log.warning("quality: could not score %s: %s", record.request_id, exc)
        if scores and self.writer is not None:
            try:
                self.counters["written"] += await self.writer.add_many(scores)
            except Exception as exc:  # noqa: BLE001 - scores are worth less than uptime
                self.counters["write_errors"] += 1
                self.counters["dropped_write_failed"] += len(scores)
                log.warning("quality: dropped %d scores: database write failed: %s", len(scores), exc)
        return True  # a failed write is dropped and counted; scoring goes on

    async def score(self, record: RequestRecord) -> list[QualityScore]:
        """Score one record now (similarity and/or consistency) and roll the results up."""
        model = record.served_model or record.requested_model
        scores: list[QualityScore] = []
        similarity = await self._similarity(record)
        if similarity is not None:
            value, golden_id = similarity
            scores.append(QualityScore(record.request_id, record.route, model, "similarity", value,
                                       golden_id))
        consistency = await self._consistency(record)
        if consistency is not None:
            scores.append(QualityScore(record.request_id, record.route, model, "consistency", consistency))
        for s in scores:
            self._rolling.setdefault((s.route, s.model, s.kind), Rolling()).add(s.score, self.alpha)
        if scores:
            self.counters["scored"] += 1
        return scores

    async def _similarity(self, record: RequestRecord) -> tuple[float, int] | None:
        index = self._index.get(record.route)
        if index is None:
            return None
        prompt, answer = prompt_text(record.prompt), record.response
        if not prompt or not answer or not answer.strip():
            self.counters["skipped_no_content"] += 1
            return None
        vectors = await asyncio.to_thread(self._embed, [prompt, answer])
        matches = index.questions @ vectors[0]
        best = int(np.argmax(matches))
        if float(matches[best]) < self.min_question_similarity:
            self.counters["skipped_no_match"] += 1
            return None
        value = float(np.clip(index.answers[best] @ vectors[1], 0.0, 1.0))
        return value, index.ids[best]

    async def _consistency(self, record: RequestRecord) -> float | None:
        given = _unit_score(record.extras.get("consistency_score"))
        if given is not None or not self._consistency_fns:
            return given
        values: list[float] = []
        for fn in self._consistency_fns:
            try:
                result = fn(record)
                if inspect.isawaitable(result):
                    result = await result
            except Exception as exc:  # noqa: BLE001 - one broken scorer must not stop the others
                self.counters["score_errors"] += 1
                log.warning("quality: consistency scorer failed on %s: %s", record.request_id, exc)
                continue
            value = _unit_score(result)
            if value is not None:
                values.append(value)
        return sum(values) / len(values) if values else None
