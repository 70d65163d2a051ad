"""A top-level field of a JSON document kept in a text column, as text, on either backend.

SQLite reads it with ``json_extract`` (its CAST to a JSON type would turn the text into a
number); PostgreSQL casts the text to ``json`` and takes ``->>``. Used where a value lives
only inside a stored JSON body (erasure matching a stored response's end user).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement


class json_text(FunctionElement[str]):
    """``json_text(column, "field")``: the field's value as text, NULL when absent."""

    type = String()
    inherit_cache = False  # `field` is not part of a cache key: compile each time
    name = "json_text"

    def __init__(self, column: ColumnElement[Any], field: str) -> None:
        if not field.isidentifier():
            raise ValueError(f"json_text: field {field!r} must be a plain name")
        self.field = field
        super().__init__(column)


@compiles(json_text)
def _default(element: json_text, compiler: Any, **kw: Any) -> str:
    return f"json_extract({compiler.process(element.clauses, **kw)}, '$.{element.field}')"


@compiles(json_text, "postgresql")
def _postgresql(element: json_text, compiler: Any, **kw: Any) -> str:
    return f"(CAST({compiler.process(element.clauses, **kw)} AS json) ->> '{element.field}')"
