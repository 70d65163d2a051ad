"""W3C Trace Context (`traceparent`, `tracestate`): how a request joins its caller's trace.

The edges only keep the header values as sent (`trace_headers`, or the chat hot path's own
header loop) on the RequestContext, so a request pays no parsing while it runs. They are
checked once, when the request's record is built (`traceparent_of`, `tracestate_of`): only a
valid pair is kept, in the record's `extras`, and the spans are built from it later
(`parse_traceparent`, in corral.observe.tracing). An invalid `traceparent` is dropped with
its `tracestate`, so the request starts a trace of its own, as the specification asks.

Rules (https://www.w3.org/TR/trace-context/, level 1): `version-traceid-parentid-flags` in
lowercase hex; version `ff` is invalid; version `00` is exactly 55 characters; a later version
is read by its first 55 characters (followed by `-` or nothing); an all-zero trace id or
parent id is invalid. `tracestate` is at most 32 `key=value` members, here at most 512
characters in all (the size the specification asks every vendor to pass on); one invalid
member drops the whole list. Imports nothing, so the edges can use it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_KEY = re.compile(r"[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13}")
_VALUE = re.compile(r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16
TRACESTATE_MAX_CHARS = 512
TRACESTATE_MAX_MEMBERS = 32


def trace_headers(headers: Iterable[tuple[bytes, bytes]]) -> tuple[str | None, str | None]:
    """(`traceparent`, `tracestate`) from raw ASGI headers, unchecked.

    A repeated `traceparent` is ambiguous, so it becomes "" (invalid: a new trace); repeated
    `tracestate` headers are one list, joined with commas."""
    parent = state = None
    for name, value in headers:
        if name == b"traceparent":
            parent = value.decode("latin-1") if parent is None else ""
        elif name == b"tracestate":
            text = value.decode("latin-1")
            state = text if state is None else f"{state},{text}"
    return parent, state


def parse_traceparent(value: str | None) -> tuple[int, int, int] | None:
    """(trace id, parent span id, flags) of a valid `traceparent`, else None."""
    if not value:
        return None
    value = value.strip(" \t")
    match = _TRACEPARENT.match(value)
    if match is None:
        return None
    version, trace_id, span_id, flags = match.groups()
    if version == "ff" or trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    if version == "00":
        if len(value) != 55:
            return None
    elif len(value) > 55 and value[55] != "-":
        return None
    else:
        flags = f"{int(flags, 16) & 0x01:02x}"  # a later version's other flag bits mean nothing to 00
    return int(trace_id, 16), int(span_id, 16), int(flags, 16)


def traceparent_of(value: str | None) -> str | None:
    """A valid `traceparent` in its version-00 form, else None."""
    parsed = parse_traceparent(value)
    if parsed is None:
        return None
    trace_id, span_id, flags = parsed
    return f"00-{trace_id:032x}-{span_id:016x}-{flags:02x}"


def tracestate_members(value: str | None) -> list[tuple[str, str]] | None:
    """The (key, value) members of a valid `tracestate`, in order; None if it is invalid or
    empty. Empty members (`a=1,,b=2`) are allowed and skipped."""
    if not value or len(value) > TRACESTATE_MAX_CHARS:
        return None
    members: list[tuple[str, str]] = []
    seen: set[str] = set()
    for item in value.split(","):
        item = item.strip(" \t")
        if not item:
            continue
        key, eq, val = item.partition("=")
        if not eq or key in seen or not _KEY.fullmatch(key) or not _VALUE.fullmatch(val):
            return None
        seen.add(key)
        members.append((key, val))
    if not members or len(members) > TRACESTATE_MAX_MEMBERS:
        return None
    return members


def tracestate_of(value: str | None) -> str | None:
    """A valid `tracestate` as one normalised list (`k=v,k2=v2`), else None."""
    members = tracestate_members(value)
    return ",".join(f"{k}={v}" for k, v in members) if members else None
