"""Golden examples: reference question/answer pairs per route, for answer-quality scoring."""

from __future__ import annotations

import builtins
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, delete, select

from corral.store.db import Database
from corral.store.schema import golden_examples, utcnow

MAX_ROUTE_CHARS = 200
MAX_TEXT_CHARS = 20_000


@dataclass(slots=True)
class GoldenExample:
    route: str
    question: str
    answer: str
    created_at: datetime = field(default_factory=utcnow)
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        return data


def validate_golden(route: Any, question: Any, answer: Any) -> GoldenExample:
    """A new example from untrusted values; ValueError names the bad field first."""
    for name, value, limit in (("route", route, MAX_ROUTE_CHARS), ("question", question, MAX_TEXT_CHARS),
                               ("answer", answer, MAX_TEXT_CHARS)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{name}: '{name}' is required: a non-empty string.")
        if len(value) > limit:
            raise ValueError(f"{name}: '{name}' is too long (at most {limit} characters).")
        if "\x00" in value:  # PostgreSQL text cannot hold NUL; refused on every backend alike
            raise ValueError(f"{name}: '{name}' contains a NUL character (\\u0000); remove it.")
    return GoldenExample(route=route.strip(), question=question.strip(), answer=answer.strip())


def _from_row(row: RowMapping) -> GoldenExample:
    return GoldenExample(id=row["id"], created_at=row["created_at"], route=row["route"],
                         question=row["question"], answer=row["answer"])


class GoldenStore:
    """CRUD on ``golden_examples``; stateless, cheap to build per use."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, example: GoldenExample) -> GoldenExample:
        row = asdict(example)
        del row["id"]
        async with self.db.transaction() as tx:
            stmt = golden_examples.insert().returning(golden_examples.c.id)
            example.id = int(await tx.fetch_val(stmt, row))
        return example

    async def list(self, route: str | None = None) -> list[GoldenExample]:
        query = select(golden_examples)
        if route is not None:
            query = query.where(golden_examples.c.route == route)
        query = query.order_by(golden_examples.c.route, golden_examples.c.id)
        return [_from_row(r) for r in await self.db.fetch_all(query)]

    async def remove(self, example_id: int) -> bool:
        result = await self.db.execute(delete(golden_examples).where(golden_examples.c.id == example_id))
        return bool(result.rowcount)

    async def by_route(self) -> dict[str, builtins.list[GoldenExample]]:
        grouped: dict[str, builtins.list[GoldenExample]] = {}
        for example in await self.list():
            grouped.setdefault(example.route, []).append(example)
        return grouped
