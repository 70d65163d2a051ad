"""Quality scores as stored: one row per scored answer, written in batches."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import desc, select

from corral.store.db import Database
from corral.store.schema import quality_scores, utcnow


@dataclass(slots=True)
class QualityScore:
    request_id: str
    route: str
    model: str | None
    kind: str  # similarity | consistency
    score: float
    golden_id: int | None = None
    created_at: datetime = field(default_factory=utcnow)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        return data


class QualityScoreStore:
    """Batch writes and reads of ``quality_scores``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add_many(self, scores: Iterable[QualityScore]) -> int:
        rows = [asdict(s) for s in scores]
        for row in rows:
            row["route"] = row["route"][:200]
            row["request_id"] = row["request_id"][:128]
            if row["model"] is not None:
                row["model"] = row["model"][:200]
        if rows:
            await self.db.execute(quality_scores.insert(), rows)
        return len(rows)

    async def list(self, route: str | None = None, limit: int = 100) -> list[QualityScore]:
        query = select(quality_scores)
        if route is not None:
            query = query.where(quality_scores.c.route == route)
        query = query.order_by(desc(quality_scores.c.created_at), desc(quality_scores.c.id))
        rows = await self.db.fetch_all(query.limit(max(1, min(limit, 1000))))
        return [QualityScore(request_id=r["request_id"], route=r["route"], model=r["model"], kind=r["kind"],
                             score=r["score"], golden_id=r["golden_id"], created_at=r["created_at"])
                for r in rows]
