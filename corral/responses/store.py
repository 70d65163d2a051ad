"""Stored responses: `store: true` keeps a response, its input items and its output.

Every read is scoped to a team: another team's response, a deleted one and one never
stored all raise the same `ResponseNotFound`, `previous_response_id` included, so no
caller reads or continues another team's conversation. A conversation is loaded in one
recursive query, bounded by `MAX_CHAIN` responses.

Stored responses hold content at the client's request (docs/responses.md, "Storage");
`purge_older_than` removes them by age until governance schedules retention.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import delete, literal, select, update
from sqlalchemy.engine import RowMapping

from corral.core.errors import InvalidRequest
from corral.core.ownership import Owner
from corral.responses.errors import ResponseNotFound
from corral.store import Database
from corral.store.db import Transaction
from corral.store.ownership import owned_by
from corral.store.schema import jobs, responses, utcnow

MAX_CHAIN = 100  # responses one conversation may hold (previous_response_id links)
CONTINUABLE = ("completed", "incomplete")
PURGE_BATCH = 500


@dataclass(slots=True)
class StoredResponse:
    """One row: the Response object (`body`) and the input items of its own request."""

    body: dict[str, Any]
    items: list[dict[str, Any]]
    team: str
    key_id: str | None = None
    depth: int = 1  # responses in its conversation, itself included
    conversation_bytes: int = 0  # stored item bytes of the conversation through it

    @property
    def id(self) -> str:
        return str(self.body["id"])

    @property
    def status(self) -> str:
        return str(self.body["status"])


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _from_row(row: RowMapping) -> StoredResponse:
    return StoredResponse(body=orjson.loads(row["body"]), items=orjson.loads(row["input_items"]),
                          team=row["team"], key_id=row["key_id"], depth=row["depth"],
                          conversation_bytes=row["conversation_bytes"])


class ResponseStore:
    def __init__(self, db: Database, now: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.now = now

    async def insert(self, stored: StoredResponse, tx: Transaction | None = None) -> None:
        """Store a new response; inside `tx` when given (a background response and its job)."""
        now = self.now()
        await (tx or self.db).execute(responses.insert().values(
            id=stored.id, team=stored.team, key_id=stored.key_id, status=stored.status,
            previous_response_id=stored.body.get("previous_response_id"), depth=stored.depth,
            conversation_bytes=stored.conversation_bytes, body=_dumps(stored.body),
            input_items=_dumps(stored.items), created_at=now, updated_at=now))

    async def update(self, stored: StoredResponse, *, only_from: tuple[str, ...]) -> bool:
        """Write the response's new state if it is still in one of `only_from` (a background
        response cancelled meanwhile keeps `cancelled`). True when written."""
        result = await self.db.execute(
            update(responses)
            .where(responses.c.id == stored.id, responses.c.team == stored.team,
                   responses.c.status.in_(only_from))
            .values(status=stored.status, body=_dumps(stored.body),
                    conversation_bytes=stored.conversation_bytes, updated_at=self.now()))
        return bool(result.rowcount)

    async def get(self, response_id: str, owner: Owner, *, param: str | None = None) -> StoredResponse:
        row = await self.db.fetch_one(select(responses).where(
            responses.c.id == response_id, owned_by(responses, owner)))
        if row is None:
            raise ResponseNotFound(response_id, param=param)
        return _from_row(row)

    async def live_with_ended_jobs(self, limit: int) -> list[StoredResponse]:
        """Background responses still queued or in progress whose job has ended (failed,
        expired, cancelled) or is gone: what corral.responses.background.settle_orphans settles."""
        ended = jobs.c.status.in_(("failed", "expired", "cancelled")) | jobs.c.id.is_(None)
        rows = await self.db.fetch_all(
            select(responses).select_from(responses.outerjoin(jobs, jobs.c.id == responses.c.id))
            .where(responses.c.status.in_(("queued", "in_progress")), ended).limit(limit))
        return [_from_row(row) for row in rows]

    async def delete(self, response_id: str, owner: Owner) -> None:
        result = await self.db.execute(delete(responses).where(
            responses.c.id == response_id, owned_by(responses, owner)))
        if not result.rowcount:
            raise ResponseNotFound(response_id)

    async def conversation(self, response_id: str,
                           owner: Owner) -> tuple[StoredResponse, list[dict[str, Any]]]:
        """The response `response_id` continues from, and its whole conversation's items
        (each response's input, then its output), oldest first."""
        last = await self.get(response_id, owner, param="previous_response_id")
        if last.status not in CONTINUABLE:
            raise InvalidRequest(f"Response '{response_id}' is {last.status}; only a completed or incomplete "
                                 "response can be continued.", param="previous_response_id")
        if last.depth >= MAX_CHAIN:
            raise InvalidRequest(f"The conversation of '{response_id}' already holds {last.depth} responses, "
                                 f"Corral's limit is {MAX_CHAIN}; start a new conversation (send the context "
                                 "you need as 'input').", param="previous_response_id")
        rows = await self._chain(response_id, owner)
        if len(rows) != last.depth:
            raise InvalidRequest(f"An earlier response in the conversation of '{response_id}' was deleted, "
                                 "so it cannot be continued; start a new conversation.",
                                 param="previous_response_id")
        items: list[dict[str, Any]] = []
        for row in rows:
            items += orjson.loads(row["input_items"])
            items += orjson.loads(row["body"])["output"]
        return last, items

    async def _chain(self, response_id: str, owner: Owner) -> list[RowMapping]:
        """The rows linked by previous_response_id from `response_id` back, oldest first."""
        r = responses.c
        start = select(r.id, r.previous_response_id, literal(0).label("n")).where(
            r.id == response_id, owned_by(responses, owner))
        chain = start.cte("chain", recursive=True)
        step = select(r.id, r.previous_response_id, (chain.c.n + 1).label("n")).join(
            chain, r.id == chain.c.previous_response_id).where(owned_by(responses, owner),
                                                                chain.c.n < MAX_CHAIN)
        chain = chain.union_all(step)
        query = select(r.body, r.input_items, chain.c.n).join(chain, r.id == chain.c.id)
        return await self.db.fetch_all(query.order_by(chain.c.n.desc()))


async def purge_older_than(db: Database, cutoff: datetime) -> int:
    """Delete responses created before `cutoff`, in batches (SQLite's write lock is held
    briefly); returns how many. Safe to run from several replicas at once."""
    removed = 0
    while True:
        async with db.transaction() as tx:
            ids = [row["id"] for row in await tx.fetch_all(
                select(responses.c.id).where(responses.c.created_at < cutoff).limit(PURGE_BATCH))]
            if ids:
                await tx.execute(delete(responses).where(responses.c.id.in_(ids)))
        removed += len(ids)
        if len(ids) < PURGE_BATCH:
            return removed


def page_items(items: list[dict[str, Any]], *, limit: int, order: str,
               after: str | None) -> tuple[list[dict[str, Any]], bool]:
    """One page of a response's input items (`order` asc: as sent); True when more follow."""
    ordered = items if order == "asc" else items[::-1]
    if after is not None:
        ids = [item["id"] for item in ordered]
        if after not in ids:
            raise InvalidRequest(f"'after' names no input item of this response: {after[:80]!r}. Pass the "
                                 "id of the last item of the previous page.", param="after")
        ordered = ordered[ids.index(after) + 1:]
    return ordered[:limit], len(ordered) > limit
