"""User feedback on answers: thumbs and/or a 0..1 score, a comment, a correction.

Feedback names the answer by ``request_id`` (the ``x-request-id`` the gateway echoed) or
``response_id`` (the ``id`` of a chat completion, ``chatcmpl-...``). Request records are
written behind, so an id that is not stored yet is accepted as it is; readers join on
``request_id``, or derive it from ``response_id`` with :func:`request_id_from_response_id`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, desc, or_, select

from corral.core.errors import InvalidRequest
from corral.store.db import Database
from corral.store.schema import feedback, utcnow

RATINGS = ("up", "down")
MAX_ID_CHARS = 128
MAX_TEXT_CHARS = 20_000
RESPONSE_PREFIX = "chatcmpl-"


@dataclass(slots=True)
class Feedback:
    request_id: str | None = None
    response_id: str | None = None
    rating: str | None = None  # up | down
    score: float | None = None  # 0..1
    comment: str | None = None
    correction: str | None = None
    key_id: str | None = None
    team: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        return data


def request_id_from_response_id(response_id: str) -> str:
    """The gateway-generated request id behind a chat response id (``chatcmpl-X`` -> ``req_X``).

    A client-sent ``x-request-id`` without the ``req_`` prefix cannot be told apart, so
    readers should match both ``req_X`` and ``X``.
    """
    return "req_" + response_id.removeprefix(RESPONSE_PREFIX)


def _optional_id(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"'{name}' must be a non-empty string.", param=name)
    value = value.strip()
    if len(value) > MAX_ID_CHARS + len(RESPONSE_PREFIX):
        raise InvalidRequest(f"'{name}' is too long (at most {MAX_ID_CHARS} characters).", param=name)
    return _no_nul(value, name)


def _no_nul(value: str, name: str) -> str:
    """PostgreSQL text cannot hold NUL: refuse it on every backend, so both behave alike."""
    if "\x00" in value:
        raise InvalidRequest(f"'{name}' contains a NUL character (\\u0000); remove it.", param=name)
    return value


def _optional_text(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"'{name}' must be a string.", param=name)
    if len(value) > MAX_TEXT_CHARS:
        raise InvalidRequest(f"'{name}' is too long (at most {MAX_TEXT_CHARS} characters).", param=name)
    return _no_nul(value, name) or None


def feedback_from_payload(data: Mapping[str, Any], *, key_id: str | None = None,
                          team: str | None = None) -> Feedback:
    """Validate a ``POST /v1/feedback`` body; raises :class:`InvalidRequest` (400) naming the field."""
    request_id = _optional_id(data, "request_id")
    response_id = _optional_id(data, "response_id")
    if request_id is None and response_id is None:
        raise InvalidRequest(
            "Name the answer: send 'response_id' (the chat completion's 'id') or 'request_id' "
            "(the 'x-request-id' response header).",
            param="response_id",
        )
    rating = data.get("rating")
    if rating is not None and rating not in RATINGS:
        raise InvalidRequest(f"'rating' must be 'up' or 'down'; got {rating!r}.", param="rating")
    score = data.get("score")
    if score is not None:
        if (isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score)
                or not 0.0 <= score <= 1.0):
            raise InvalidRequest(f"'score' must be a number from 0 to 1; got {score!r}.", param="score")
        score = float(score)
    comment = _optional_text(data, "comment")
    correction = _optional_text(data, "correction")
    if rating is None and score is None and comment is None and correction is None:
        raise InvalidRequest(
            "Send at least one of 'rating' ('up' or 'down'), 'score' (0 to 1), 'comment' or 'correction'.",
            param="rating",
        )
    return Feedback(request_id=request_id, response_id=response_id, rating=rating, score=score,
                    comment=comment, correction=correction, key_id=key_id, team=team)


def _from_row(row: RowMapping) -> Feedback:
    return Feedback(**{name: row[name] for name in Feedback.__slots__})


class FeedbackStore:
    """Reads and writes of ``feedback``; stateless, cheap to build per use."""

    MAX_LIMIT = 1000

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, item: Feedback) -> Feedback:
        row = asdict(item)
        del row["id"]
        async with self.db.transaction() as tx:
            item.id = int(await tx.fetch_val(feedback.insert().returning(feedback.c.id), row))
        return item

    async def list(self, *, request_id: str | None = None, limit: int = 100, team: str | None = None,
                   rating: str | None = None, since: datetime | None = None) -> list[Feedback]:
        """Newest first; ``request_id`` matches stored request ids and derived response ids."""
        query = select(feedback)
        if request_id is not None:
            bare = request_id.removeprefix("req_")
            query = query.where(or_(feedback.c.request_id == request_id,
                                    feedback.c.response_id == RESPONSE_PREFIX + bare))
        if team is not None:
            query = query.where(feedback.c.team == team)
        if rating is not None:
            query = query.where(feedback.c.rating == rating)
        if since is not None:
            query = query.where(feedback.c.created_at >= since)
        limit = max(1, min(limit, self.MAX_LIMIT))
        query = query.order_by(desc(feedback.c.created_at), desc(feedback.c.id)).limit(limit)
        return [_from_row(r) for r in await self.db.fetch_all(query)]
