"""One fuzz campaign: every route of the app, a seeded sequence of cases, a time budget.

Request `i` is built from ``random.Random(f"{seed}:{i}")`` alone (plus identifiers earlier
answers returned), so ``CORRAL_FUZZ_SEED=s CORRAL_FUZZ_ONLY=i`` replays one request. The
route of request `i` comes from a seeded, weighted round robin over the app's own route
list, so even a short budget reaches every endpoint and a new endpoint is fuzzed as soon
as it has a builder in `shapes.SHAPES`.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpcore
import orjson
from starlette.routing import BaseRoute, Mount, Route

from corral.config import ServerSettings
from tests.fuzz.gateway import Target
from tests.fuzz.mutate import mutate
from tests.fuzz.runner import Failure, LogTap, Outcome, cause_of, check_health, judge, send
from tests.fuzz.shapes import SHAPES, WEIGHTS, Case, Pool

HEALTH_EVERY = 50
#: Idle seconds after which a reset on a reused connection may be the server's keep-alive close
#: racing the client's next request (the gateway here runs the default 5 s keep-alive).
KEEP_ALIVE_RACE_S = ServerSettings().keep_alive_timeout_s - 1.0


@dataclass(frozen=True)
class Knobs:
    """Environment knobs, for longer or replayed runs."""

    seed: int = 8
    seconds: float = 40.0  # fuzzing time; startup (~5 s) comes on top
    request_timeout: float = 8.0  # longer than any legitimate answer here (upstream total_s is 4)
    max_requests: int | None = None
    only: tuple[int, ...] = ()

    @classmethod
    def from_env(cls) -> Knobs:
        env = os.environ
        only = tuple(int(i) for i in env.get("CORRAL_FUZZ_ONLY", "").split(",") if i.strip())
        max_requests = env.get("CORRAL_FUZZ_MAX_REQUESTS")
        return cls(seed=int(env.get("CORRAL_FUZZ_SEED", cls.seed)),
                   seconds=float(env.get("CORRAL_FUZZ_SECONDS", cls.seconds)),
                   request_timeout=float(env.get("CORRAL_FUZZ_REQUEST_TIMEOUT", cls.request_timeout)),
                   max_requests=int(max_requests) if max_requests else None, only=only)


def route_keys(routes: Iterable[BaseRoute], prefix: str = "") -> list[str]:
    """``"METHOD /template"`` for every route, recursing into mounts (HEAD is implied by GET)."""
    keys: list[str] = []
    for route in routes:
        if isinstance(route, Mount):
            keys += route_keys(route.routes, prefix + route.path)
        elif isinstance(route, Route):
            keys += [f"{m} {prefix}{route.path}" for m in sorted(route.methods or ()) if m != "HEAD"]
        else:
            keys.append(f"? {prefix}{getattr(route, 'path', route)!r}")
    return keys


def schedule(keys: list[str], seed: int) -> list[str]:
    order = [k for k in keys for _ in range(WEIGHTS.get(k, 1))]
    random.Random(seed).shuffle(order)
    return order


@dataclass
class Result:
    """What a campaign did and found."""

    knobs: Knobs
    requests: int = 0
    seconds: float = 0.0
    statuses: Counter[str] = field(default_factory=Counter)
    unsendable: int = 0
    failures: list[Failure] = field(default_factory=list)
    slowest: list[tuple[float, int, str]] = field(default_factory=list)  # (seconds, index, what)
    last: tuple[int, int | None] = (-1, None)  # the previous request and its status
    last_answered: float = 0.0  # time.monotonic() when the previous request's answer ended

    def note_time(self, i: int, case: Case, out: Outcome) -> None:
        """Keep the ten slowest requests: slow is where the next hang comes from."""
        self.slowest.append((out.elapsed, i, f"{out.status} {case.method} {case.route} "
                             f"model={case.model} {len(case.body or b'')}B {'; '.join(case.notes)}"))
        self.slowest = sorted(self.slowest, reverse=True)[:10]


def build_case(seed: int, i: int, route: str, pool: Pool) -> Case:
    rng = random.Random(f"{seed}:{i}")
    return mutate(rng, SHAPES[route](rng, pool))


def _harvest(pool: Pool, case: Case, out: Outcome, request_id: str) -> None:
    """Remember identifiers the gateway handed out, for later path parameters and bodies."""
    if out.status is None or not 200 <= out.status < 300:
        return
    if case.route == "POST /v1/chat/completions" and case.method == "POST":
        pool.request_ids.append(request_id)
    if not out.headers.get("content-type", "").startswith("application/json"):
        return
    try:
        data: Any = orjson.loads(out.body)
    except orjson.JSONDecodeError:
        return
    if not isinstance(data, dict):
        return
    if case.route == "POST /admin/keys" and out.status == 201:
        pool.key_refs += [str(data.get(k)) for k in ("id", "prefix", "key") if data.get(k)]
    elif case.route == "POST /admin/golden" and out.status == 201:
        pool.golden_ids.append(str(data.get("id")))
    elif case.route == "POST /v1/files" and str(data.get("id", "")).startswith("file-"):
        pool.file_ids.append(str(data["id"]))
    elif str(data.get("id", "")).startswith(("chatcmpl-", "resp_")):
        pool.response_ids.append(str(data["id"]))


def _replay_dropped(result: Result, target: Target, case: Case, out: Outcome, i: int, knobs: Knobs,
                    tap: LogTap, sent_at: float) -> Outcome:
    """A reset on a reused connection is the previous answer's doing: note it, then retry fresh."""
    with httpcore.ConnectionPool(retries=0) as fresh:
        again = send(fresh, target, case, f"fz{knobs.seed}-{i}-again", knobs.request_timeout, tap)
    if again.status is None:
        return out  # dropped on a fresh connection too: this request's own doing
    before, status = result.last
    idle = sent_at - result.last_answered
    if idle > KEEP_ALIVE_RACE_S:
        # The connection sat idle near the server's keep-alive timeout (building a huge case
        # can take seconds on a busy machine): the server closing it then is correct HTTP/1.1,
        # and the client's reuse raced the close. Not a server fault.
        case.notes.append(f"reused after {idle:.1f}s idle, past the keep-alive race margin; fine anew")
        return again
    cause = f"dropped: the server closed a keep-alive connection without notice after a {status} answer"
    case.notes.append(f"reset when reusing the connection of request #{before}; fine on a new one")
    result.failures.append(Failure("dropped", cause, i, case, out))
    return again


def run(target: Target, keys: list[str], knobs: Knobs, tap: LogTap) -> Result:
    """Fuzz until the time budget (or request cap) is spent; collect every bad answer."""
    result = Result(knobs)
    order = schedule(keys, knobs.seed)
    pool = Pool()
    indices: Iterable[int] = knobs.only or range(10**9)
    start = time.monotonic()
    with httpcore.ConnectionPool(max_connections=4, retries=0) as client:
        for i in indices:
            if time.monotonic() - start > knobs.seconds or i == knobs.max_requests:
                break
            case = build_case(knobs.seed, i, order[i % len(order)], pool)
            request_id = f"fz{knobs.seed}-{i}"
            sent_at = time.monotonic()
            out = send(client, target, case, request_id, knobs.request_timeout, tap)
            if (out.error or "").startswith("dropped"):
                out = _replay_dropped(result, target, case, out, i, knobs, tap, sent_at)
            result.last, result.last_answered = (i, out.status), time.monotonic()
            result.requests += 1
            result.statuses[str(out.status) if out.status is not None else "none"] += 1
            result.unsendable += out.status == -1
            result.note_time(i, case, out)
            if (problem := judge(case, out)) is not None:
                kind, detail = problem
                result.failures.append(Failure(kind, cause_of(kind, detail, case, out), i, case, out))
            _harvest(pool, case, out, request_id)
            if result.requests % HEALTH_EVERY == 0 or (problem and problem[0] in ("hang", "dropped")):
                if (sick := check_health(client, target, tap)) is not None:
                    result.failures.append(Failure("healthz", sick, i, case, out))
                    break
    with httpcore.ConnectionPool() as fresh:
        sick = check_health(fresh, target, tap)
    if sick is not None:
        result.failures.append(Failure("healthz", f"after the run: {sick}", -1,
                                       Case("GET /healthz", "GET", "/healthz"), Outcome(None, {}, b"", 0.0)))
    result.seconds = time.monotonic() - start
    return result
