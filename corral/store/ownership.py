"""The SQL side of corral.core.ownership: a stored object's rows in a caller's scope."""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import ColumnElement


class Scoped(Protocol):
    """corral.core.ownership.Scope, as the store sees it (the store imports nothing above it)."""

    @property
    def team(self) -> str: ...

    @property
    def key_id(self) -> str | None: ...


def owned_by(table: Any, owner: str | Scoped) -> ColumnElement[bool]:
    """The SQL condition for `table`'s rows in `owner`'s scope (`table` has team and key_id):
    a team name, or a Scope (its key too, when it names one)."""
    if isinstance(owner, str):
        return table.c.team == owner  # type: ignore[no-any-return]
    condition: ColumnElement[bool] = table.c.team == owner.team
    if owner.key_id is not None:
        condition = condition & (table.c.key_id == owner.key_id)
    return condition
