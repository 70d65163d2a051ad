"""Hostile values: the strings, numbers and structures a client can put in any JSON field.

Every choice is drawn from the caller's `random.Random`, so a seed replays the same values.
The lists are the cases that broke real parsers: NUL, lone surrogates, numbers past int64
and float range, and nesting deep enough to hit recursion limits (300-1,000 levels).
"""

from __future__ import annotations

import random
from typing import Any

from tests.fuzz.jsontext import Raw, nested

ODD_STRINGS = [
    "", " ", "\x00", "a\x00b", "\ud800", "\udfff", "x\ud83d", "\ufeff", "\u202e", "é", "😀" * 3,
    "\r\n", "\t", "\\", '"', "' OR 1=1 --", "%00", "%s%n", "../../etc/passwd", "<script>", "null",
    "true", "0", "-1", "1e999", "NaN", "[]", "{}", "x" * 300, "☃" * 50, "\u0301" * 20,
    "jane.doe@example.com", "4111 1111 1111 1111", "+1 415 555 2671", "sk-corral-" + "A" * 32,
]
HUGE_INTS = [2**31, 2**63 - 1, 2**63, 2**64, 2**127, -(2**63) - 1, 10**30, 10**400]
ODD_NUMBERS: list[Any] = [
    0, -1, -(2**31), 1.5, -0.0, 1e-320, 1e308, *HUGE_INTS, Raw("1e999"), Raw("-1e999"),
    Raw("NaN"), Raw("Infinity"), Raw("1E400"), Raw("0.0000000000000000000000000001"),
]
DEPTHS = [300, 500, 1000]


def odd_string(rng: random.Random) -> str:
    if rng.random() < 0.2:
        return "".join(rng.choice(ODD_STRINGS[:20]) for _ in range(rng.randint(2, 6)))
    return rng.choice(ODD_STRINGS)


def odd_number(rng: random.Random) -> Any:
    return rng.choice(ODD_NUMBERS)


def deep(rng: random.Random) -> Raw:
    """An array or object nested 300-1,000 levels."""
    return nested(rng.choice(DEPTHS), rng.choice(["list", "obj"]))


def huge_array(rng: random.Random, item: Any = None) -> list[Any]:
    """Many copies of `item`: up to 20,000 scalars, or 50-200 objects (messages, tools).

    Objects are capped lower because each message costs the PII detector ~25 ms of CPU that
    outlives a timed-out client; 1,000 of them still come up now and then (a known hang).
    """
    if item is None:
        item = rng.choice([0, "x", None, {}])
    if isinstance(item, dict | list) and item:
        return [item] * (1_000 if rng.random() < 0.04 else rng.choice([50, 200]))
    return [item] * rng.choice([1_000, 20_000])


def odd_value(rng: random.Random) -> Any:
    """Any JSON value of a surprising type or size."""
    pick = rng.randrange(10)
    if pick == 0:
        return odd_string(rng)
    if pick == 1:
        return odd_number(rng)
    if pick == 2:
        return rng.choice([None, True, False])
    if pick == 3:
        return deep(rng)
    if pick == 4:
        return huge_array(rng)
    if pick == 5:
        return {odd_string(rng): odd_string(rng)}
    if pick == 6:
        return [odd_string(rng), odd_number(rng), None]
    if pick == 7:
        return {}
    if pick == 8:
        return []
    return {"type": odd_string(rng), "properties": deep(rng) if rng.random() < 0.5 else {}}


def odd_schema(rng: random.Random) -> Any:
    """A JSON-schema-looking value for free-form fields (tools[].parameters, json_schema)."""
    choices: list[Any] = [
        {"type": "object", "properties": {"x": deep(rng)}},
        {"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x", 1, None]},
        {"type": "object", "properties": {"x": {"$ref": "#/properties/x"}}, "required": ["x"]},
        {"type": ["object", "null"], "properties": {odd_string(rng): {"type": odd_string(rng)}}},
        {"type": "array", "items": deep(rng)},
        {"type": "object", "properties": {"x": {"type": "object", "properties": {}}}, "required": ["x"]},
        {"type": "object", "properties": [], "required": {}},
        {"type": "object", "properties": {"n": {"type": "integer", "enum": [odd_number(rng)]}},
         "required": ["n"]},
        {"anyOf": [deep(rng)], "additionalProperties": deep(rng)},
        deep(rng), odd_value(rng),
    ]
    return rng.choice(choices)
