"""OpenAI's attribute filters: checked once, evaluated in Python or compiled to SQL.

A filter is a comparison `{"type": "eq"|"ne"|"gt"|"gte"|"lt"|"lte"|"in"|"nin", "key", "value"}`
or a compound `{"type": "and"|"or", "filters": [...]}` (types.Filter). One meaning on every
backend, so a store answers the same on SQLite, PostgreSQL and in memory:

- a value has a kind: string, number or boolean (a boolean is never a number, unlike Python's
  `True == 1`); values of different kinds are never equal and never ordered;
- `gt`/`gte`/`lt`/`lte` order numbers by value and strings by code point (PostgreSQL compares
  with `COLLATE "C"`, not the database's locale);
- an attribute the chunk does not have fails every comparison except `ne` and `nin`, which it
  passes (it is not equal to the value);
- `in`/`nin` take a non-empty list of values.

`matches` is the reference; `compile_sql` builds the same test as a SQL condition over a JSON
attributes column, and the index tests check the two agree operator by operator.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from corral.knowledge.types import AttributeValue, Filter

COMPARISONS = frozenset({"eq", "ne", "gt", "gte", "lt", "lte", "in", "nin"})
COMPOUNDS = frozenset({"and", "or"})
_ORDER: dict[str, Callable[[Any, Any], Any]] = {
    "gt": lambda a, b: a > b, "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b,
}
_SQL_OP = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
MAX_DEPTH = 8


class InvalidFilter(ValueError):
    """A filter that is not OpenAI's shape; the message names where (`filters.filters[1].key`)."""


def kind(value: object) -> str | None:
    """'boolean', 'number' or 'string'; None for anything an attribute cannot hold."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "string" if isinstance(value, str) else None


def validate(f: Filter, where: str = "filters", depth: int = 0) -> None:
    """Raise InvalidFilter unless `f` is a well-formed filter (checked before any query runs)."""
    if not isinstance(f, Mapping):
        raise InvalidFilter(f"{where}: expected an object")
    ftype = f.get("type")
    if depth > MAX_DEPTH:
        raise InvalidFilter(f"{where}: filters nest deeper than {MAX_DEPTH}")
    if ftype in COMPOUNDS:
        subs = f.get("filters")
        if not isinstance(subs, Sequence) or isinstance(subs, str) or not subs:
            raise InvalidFilter(f"{where}.filters: expected a non-empty list")
        for i, sub in enumerate(subs):
            validate(sub, f"{where}.filters[{i}]", depth + 1)
        return
    if ftype not in COMPARISONS:
        raise InvalidFilter(f"{where}.type: expected one of {sorted(COMPARISONS | COMPOUNDS)}")
    key = f.get("key")
    if not isinstance(key, str) or not key or '"' in key or "\\" in key:
        raise InvalidFilter(f"{where}.key: expected a non-empty string without quotes or backslashes")
    value = f.get("value")
    if ftype in ("in", "nin"):
        if not isinstance(value, list) or not value or any(kind(v) is None for v in value):
            raise InvalidFilter(f"{where}.value: expected a non-empty list of strings, numbers or booleans")
    elif kind(value) is None:
        raise InvalidFilter(f"{where}.value: expected a string, number or boolean")


def _equal(a: object, b: object) -> bool:
    return kind(a) is not None and kind(a) == kind(b) and a == b


def matches(f: Filter, attributes: Mapping[str, AttributeValue]) -> bool:
    """Whether attributes pass a (validated) filter: the reference the SQL must agree with."""
    ftype = f["type"]
    if ftype == "and":
        return all(matches(sub, attributes) for sub in f["filters"])
    if ftype == "or":
        return any(matches(sub, attributes) for sub in f["filters"])
    have = attributes.get(f["key"])
    value = f["value"]
    if ftype in ("eq", "ne"):
        equal = _equal(have, value)
        return equal if ftype == "eq" else not equal
    if ftype in ("in", "nin"):
        found = any(_equal(have, v) for v in value)
        return found if ftype == "in" else not found
    if kind(have) != kind(value) or kind(value) == "boolean":
        return False
    return bool(_ORDER[ftype](have, value))


class _Compiler:
    """Builds one SQL condition with numbered bound parameters (`:fN`), never inlined values."""

    def __init__(self, dialect: str, column: str) -> None:
        self.dialect = dialect
        self.column = column
        self.params: dict[str, Any] = {}

    def bind(self, value: Any) -> str:
        name = f"f{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def node(self, f: Filter) -> str:
        if f["type"] in COMPOUNDS:
            joiner = " AND " if f["type"] == "and" else " OR "
            return "(" + joiner.join(self.node(sub) for sub in f["filters"]) + ")"
        ftype, key, value = f["type"], f["key"], f["value"]
        if ftype in ("eq", "ne"):
            test = self.equal(key, value)
        elif ftype in ("in", "nin"):
            test = "(" + " OR ".join(self.equal(key, v) for v in value) + ")"
        else:
            test = self.order(key, _SQL_OP[ftype], value)
        wrapped = f"COALESCE({test}, {self.false})"  # a missing attribute: NULL, made false
        return f"(NOT {wrapped})" if ftype in ("ne", "nin") else wrapped

    @property
    def false(self) -> str:
        return "FALSE" if self.dialect == "postgresql" else "0"

    def equal(self, key: str, value: AttributeValue) -> str:
        col = self.column
        if self.dialect == "postgresql":
            k = self.bind(key)
            if isinstance(value, bool):
                return f"({col} -> {k}) = '{'true' if value else 'false'}'::jsonb"
            if isinstance(value, str):
                return f"(jsonb_typeof({col} -> {k}) = 'string' AND ({col} ->> {k}) = {self.bind(value)})"
            return (f"(CASE WHEN jsonb_typeof({col} -> {k}) = 'number' "
                    f"THEN ({col} ->> {k})::float8 = CAST({self.bind(float(value))} AS float8) END)")
        k = self.bind(f'$."{key}"')  # a JSON path; validate() keeps quotes out of keys
        if isinstance(value, bool):
            return f"(json_type({col}, {k}) = '{'true' if value else 'false'}')"
        jtype = "= 'text'" if isinstance(value, str) else "IN ('integer', 'real')"
        return f"(json_type({col}, {k}) {jtype} AND json_extract({col}, {k}) = {self.bind(value)})"

    def order(self, key: str, op: str, value: AttributeValue) -> str:
        if isinstance(value, bool):
            return self.false  # booleans are not ordered
        col = self.column
        if self.dialect == "postgresql":
            k = self.bind(key)
            if isinstance(value, str):
                return (f"(CASE WHEN jsonb_typeof({col} -> {k}) = 'string' "
                        f"THEN ({col} ->> {k}) COLLATE \"C\" {op} CAST({self.bind(value)} AS text) END)")
            return (f"(CASE WHEN jsonb_typeof({col} -> {k}) = 'number' "
                    f"THEN ({col} ->> {k})::float8 {op} CAST({self.bind(float(value))} AS float8) END)")
        k = self.bind(f'$."{key}"')
        jtype = "= 'text'" if isinstance(value, str) else "IN ('integer', 'real')"
        return f"(json_type({col}, {k}) {jtype} AND json_extract({col}, {k}) {op} {self.bind(value)})"


def compile_sql(f: Filter, dialect: str, column: str) -> tuple[str, dict[str, Any]]:
    """A SQL condition (and its parameters) true exactly where `matches` is, over `column`
    holding the attributes as JSON (TEXT on SQLite, JSONB on PostgreSQL)."""
    validate(f)
    compiler = _Compiler(dialect, column)
    return compiler.node(f), compiler.params
