"""How deeply client JSON may nest: one bound, checked where JSON enters Corral.

Why 64 levels: OpenAI's structured outputs allow 10 levels of schema nesting, which is
about 20-25 JSON levels once ``properties`` and ``items`` are counted, plus 4 for the
request around it (``tools[0].function.parameters``); 64 leaves more than twice that.
Past the bound, code that handles JSON fails in ways a client could trigger: orjson
refuses to serialize past 254 levels (the cache key), and the stdlib parser and every
recursive walk raise RecursionError near 1,000. A quarter of orjson's ceiling leaves
room for the levels Corral wraps around client values (cache keys, provider bodies).

Cost: two ``bytes.count`` calls for the common body (fewer brackets than the bound
cannot nest past it). Bodies with more get an iterative walk by levels, of the
free-form fields only for chat (`corral.api.wire`): measured on 2 loaded shared cores,
about 30 us for a tool schema of 100 objects, against 250 us for the whole parse.
"""

from __future__ import annotations

import re
from itertools import accumulate
from typing import Any

MAX_JSON_DEPTH = 64
_PARAM_SEGMENTS = 4  # 'tools[0].function.parameters': enough to find the field
_KEY_CHARS = 40
_CONTAINERS = (dict, list)  # what orjson.loads builds; exact types keep the walk fast
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]")


class JsonTooDeep(ValueError):
    """A JSON value nests deeper than allowed; ``path`` names where (``tools[0].function``)."""

    def __init__(self, path: str, limit: int) -> None:
        where = f"'{path}'" if path else "The JSON body"
        super().__init__(f"{where} is nested too deeply: JSON may nest at most {limit} levels.")
        self.path = path
        self.limit = limit


def could_exceed(text: str | bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """False when ``text`` has too few brackets to nest past ``limit`` (C speed, no parse)."""
    if isinstance(text, bytes):
        return text.count(b"[") + text.count(b"{") > limit
    return text.count("[") + text.count("{") > limit


def check_depth(value: Any, limit: int = MAX_JSON_DEPTH, *, level: int = 1,
                path: tuple[str | int, ...] = ()) -> None:
    """Raise :class:`JsonTooDeep` naming the first container nested past level ``limit``.

    ``value`` sits at ``level`` (the document itself is level 1), under ``path``.
    Iterative, so any depth is safe to check: one pass by levels, and only when that
    finds too much nesting, a slower one that records where.
    """
    nodes, depth = [value], level
    while nodes:
        if depth > limit:
            raise JsonTooDeep(_format_path(_first_too_deep(value, limit, level, path)), limit)
        nodes = [child for node in nodes
                 for child in (node.values() if type(node) is dict else node)
                 if type(child) in _CONTAINERS]
        depth += 1


def _first_too_deep(value: Any, limit: int, level: int,
                    path: tuple[str | int, ...]) -> tuple[str | int, ...]:
    stack: list[tuple[Any, int, tuple[str | int, ...]]] = [(value, level, path)]
    while stack:
        node, depth, where = stack.pop()
        if depth > limit:
            return where
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in items:
            if type(child) in _CONTAINERS:
                stack.append((child, depth + 1, (*where, key) if len(where) < _PARAM_SEGMENTS else where))
    return path


def text_depth(text: str) -> int:
    """How deeply the JSON document ``text`` nests, without parsing it (any depth is safe)."""
    if not could_exceed(text, 0):
        return 0
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(accumulate(1 if c in "[{" else -1 for c in brackets), default=0)


def _format_path(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            key = part if len(part) <= _KEY_CHARS else part[:_KEY_CHARS] + "..."
            out += f".{key}" if out else key
    return out
