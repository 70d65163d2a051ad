"""OpenAI's cursor paging (`limit`, `order`, `after`, `before`) over any table ordered by
(created_at, id), for the vector-store lists.

Why a cursor of its own rather than the Files API's `seq`: stores, files and file batches
have no sequence column, and (created_at, id) orders them totally (the id breaks ties).
A cursor id that is not in the list (missing, deleted, another team's) is a 400, the same
for all three, so it cannot tell whether another team's object exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, and_, or_
from sqlalchemy.engine import RowMapping

from corral.core.errors import InvalidRequest
from corral.store import Database


@dataclass(frozen=True, slots=True)
class Cursor:
    limit: int = 20
    order: Literal["asc", "desc"] = "desc"
    after: str | None = None
    before: str | None = None


async def page_rows(db: Database, query: Select[Any], created: ColumnElement[Any], ident: ColumnElement[Any],
                    cursor: Cursor, scope: Select[Any] | None = None) -> tuple[list[RowMapping], bool]:
    """One page of `query`'s rows in `cursor.order`, and whether more follow in the direction
    read (`before` reads backwards: the page before the mark, still in `order`). The mark is
    looked up in `scope` (default: `query`): a list filtered by status passes its unfiltered
    scope, so a file that changed status since the last page is still a valid cursor."""
    forward = cursor.before is None
    mark_id = cursor.after if forward else cursor.before
    ascending = (cursor.order == "asc") == forward
    if mark_id is not None:
        where = query if scope is None else scope
        at = await db.fetch_val(where.with_only_columns(created).where(ident == mark_id))
        if at is None:
            name = "after" if forward else "before"
            edge = "last" if forward else "first"
            raise InvalidRequest(f"'{name}' names nothing in this list: {mark_id[:80]!r}. Pass the id of "
                                 f"the {edge} item of the page you have.", param=name)
        if ascending:
            query = query.where(or_(created > at, and_(created == at, ident > mark_id)))
        else:
            query = query.where(or_(created < at, and_(created == at, ident < mark_id)))
    ordering = (created.asc(), ident.asc()) if ascending else (created.desc(), ident.desc())
    rows = await db.fetch_all(query.order_by(*ordering).limit(cursor.limit + 1))
    more = len(rows) > cursor.limit
    rows = rows[: cursor.limit]
    if not forward:
        rows.reverse()
    return rows, more
