"""A tiny JSON writer for fuzz bodies: what a hostile client can put on the wire.

Why not json/orjson: orjson refuses lone surrogates, and both recurse per nesting level, so
1,000-deep documents and `Raw` splices (invalid fragments, NaN, 1e999) need a writer that
does neither. Strings are ASCII-escaped by default, so a lone surrogate leaves as ``\\ud800``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Raw:
    """A fragment written verbatim (may be invalid JSON on purpose)."""

    text: str


def nested(depth: int, kind: str = "list", leaf: str = "1") -> Raw:
    """`depth` levels of arrays or objects around `leaf`, without recursion."""
    if kind == "list":
        return Raw("[" * depth + leaf + "]" * depth)
    return Raw('{"a":' * depth + leaf + "}" * depth)


def dumps(value: Any, *, ascii_only: bool = True) -> bytes:
    """Serialize `value` (dict/list/str/int/float/bool/None/Raw) iteratively to bytes.

    With `ascii_only` False, text goes out as raw UTF-8 and a lone surrogate as the bytes
    Python's ``surrogatepass`` gives (invalid UTF-8: another thing a client can send).
    """

    def _string(text: str) -> str:
        return json.dumps(text, ensure_ascii=ascii_only)

    out: list[str] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Raw):
            out.append(item.text)
        elif isinstance(item, dict):
            parts: list[Any] = [Raw("}")]
            for i, (k, v) in enumerate(reversed(list(item.items()))):
                parts.append(v)
                parts.append(Raw(_string(str(k)) + ":"))
                if i < len(item) - 1:
                    parts.append(Raw(","))
            parts.append(Raw("{"))
            stack.extend(parts)
        elif isinstance(item, list | tuple):
            parts = [Raw("]")]
            for i, v in enumerate(reversed(item)):
                parts.append(v)
                if i < len(item) - 1:
                    parts.append(Raw(","))
            parts.append(Raw("["))
            stack.extend(parts)
        elif isinstance(item, str):
            out.append(_string(item))
        elif item is None or isinstance(item, bool):
            out.append(json.dumps(item))
        elif isinstance(item, int):
            out.append(str(item))
        elif isinstance(item, float):
            out.append(repr(item) if item == item and abs(item) != float("inf") else "1e999")
        else:
            raise TypeError(f"cannot write {type(item).__name__} as JSON")
    return "".join(out).encode("utf-8", "surrogatepass")
