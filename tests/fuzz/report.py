"""Failure report: one group per cause, each with its smallest reproducer.

A fuzz failure is only useful if someone can replay it without the fuzzer, so each group
prints the seed and request index (``CORRAL_FUZZ_SEED`` / ``CORRAL_FUZZ_ONLY``) and the
request itself: method, target, headers (keys by role, never raw) and the body.
"""

from __future__ import annotations

from collections import defaultdict

from tests.fuzz.campaign import Result
from tests.fuzz.gateway import Target
from tests.fuzz.runner import Failure, request_headers

MAX_GROUPS = 40
MAX_BODY_SHOWN = 600


def _size(f: Failure) -> int:
    case = f.case
    return len(case.body or b"") + len(case.path) + len(case.query) + 100 * len(case.notes)


def reproducer(f: Failure, target: Target) -> str:
    case = f.case
    roles = {key: role for role, key in target.keys.items()}
    lines = [f"  {case.method} {case.path}{'?' + case.query if case.query else ''}"]
    for name, value in request_headers(case, target):
        for key, role in roles.items():
            value = value.replace(key, f"<{role} key>")
        lines.append(f"  {name}: {value[:200]!r}" if len(value) > 200 or not value.isprintable()
                     else f"  {name}: {value}")
    body = case.body or b""
    shown = repr(body[:MAX_BODY_SHOWN])
    if len(body) > MAX_BODY_SHOWN:
        shown += f" ... ({len(body)} bytes in all)"
    lines.append(f"  body: {shown}")
    answer = f.outcome.error or f"{f.outcome.status} {f.outcome.body[:200]!r}"
    lines.append(f"  -> {answer} in {f.outcome.elapsed:.2f}s; mutations: {'; '.join(case.notes) or 'none'}")
    return "\n".join(lines)


def render(result: Result, target: Target) -> str:
    """The whole report: run summary, then each distinct cause with a reproducer."""
    k = result.knobs
    rate = result.requests / max(result.seconds, 1e-9)
    head = (f"fuzz seed={k.seed}: {result.requests} requests in {result.seconds:.1f}s ({rate:.0f}/s), "
            f"statuses {dict(sorted(result.statuses.items()))}, "
            f"{result.unsendable} not sendable by the client library")
    head += "\nslowest requests:\n" + "\n".join(
        f"  {s:.2f}s #{i} {what[:200]}" for s, i, what in result.slowest)
    if not result.failures:
        return head + "\nno failures"
    groups: dict[str, list[Failure]] = defaultdict(list)
    for f in result.failures:
        groups[f.cause].append(f)
    out = [head, f"{len(result.failures)} failures, {len(groups)} distinct causes "
                 f"(replay one: CORRAL_FUZZ_SEED={k.seed} CORRAL_FUZZ_ONLY=<index>):"]
    ranked = sorted(groups.items(), key=lambda g: (-len(g[1]), g[0]))
    for n, (cause, items) in enumerate(ranked[:MAX_GROUPS], 1):
        best = min(items, key=_size)
        out.append(f"\n[{n}] {cause}\n  x{len(items)}; indices {[f.index for f in items[:8]]}; "
                   f"routes {sorted({f.case.route for f in items})[:4]}")
        out.append(reproducer(best, target))
    if len(ranked) > MAX_GROUPS:
        out.append(f"\n... and {len(ranked) - MAX_GROUPS} more causes")
    return "\n".join(out)
