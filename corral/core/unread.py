"""A field Corral does not read is refused by name, never dropped: what every request parser
calls on the objects inside a request (messages, content parts) that its schema does not pin."""

from __future__ import annotations

from typing import Any

from corral.core.errors import InvalidRequest


def refuse_unread(fields: dict[str, Any], known: frozenset[str], at: str, what: str) -> None:
    """400 at ``{at}.{name}`` for the first field outside ``known`` that holds something. Empty
    ones (null, [], {}) pass: they carry nothing, and SDKs send them back in replayed output."""
    for name, value in fields.items():
        if name not in known and value is not None and value != [] and value != {}:
            param = f"{at}.{name}"[:120]
            raise InvalidRequest(
                f"'{param}' is not a field of {what} Corral reads, so it would not reach the model; "
                f"remove it ({what} takes {', '.join(sorted(known))}).", param=param)
