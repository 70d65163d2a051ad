"""The gateway under fuzz: a real uvicorn Corral on 127.0.0.1 in front of the simulator.

Why a real server rather than ASGITransport: a hang (a handler that never answers, a stream
that stalls) only shows as a hang when bytes go over a socket with a deadline, and uvicorn's
own parsing (httptools) is part of what a client meets.

Routes, each one a reason to exist:
- ``sim`` (OpenAI dialect), ``sim-anthropic`` and ``sim-gemini``: the request is translated to
  three wire formats, so odd tools/response_format shapes reach three translators.
- ``flaky``: the only route whose upstream misbehaves (seeded simulator faults); a 502/503/504
  is legitimate here and nowhere else.
- ``redact`` and ``block``: privacy policies, so odd text reaches the PII detector and restore.
- ``embed``: embeddings through the OpenAI dialect.
Keys: an admin key and an inference key of team ``default`` (bootstrap), an inference key of
team ``blue``, an admin+inference key of team ``blue``, and a revoked key.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from corral.api.app import create_app
from corral.simulator import SimSettings, SimulatorThread
from tests.conftest import serve_in_thread, settings_for

SIM_KEY = "sim-fuzz-secret"
#: The one route whose upstream faults on purpose.
FLAKY_ROUTE = "flaky"
CHAT_ROUTES = ("sim", "sim-anthropic", "sim-gemini", FLAKY_ROUTE, "redact", "block")
EMBED_ROUTES = ("embed", FLAKY_ROUTE)
#: Upstream faults on the flaky route: every kind, with a seeded chance each (hang included,
#: kept rare and short because it costs a first-token timeout).
_FAULTS = [
    {"fault": "hang", "model": "flaky-*", "probability": 0.01},
    *({"fault": kind, "model": "flaky-*", "probability": 0.04} for kind in (
        "rate_limit", "server_error", "unavailable", "overloaded", "content_policy",
        "context_length", "reset", "malformed_sse", "stream_error")),
]


@dataclass(frozen=True)
class Target:
    """Where to send requests, and the credentials the fuzzer may present."""

    url: str
    host: str
    port: int
    keys: dict[str, str]  # role -> raw key
    protected_ids: frozenset[str]  # key ids the fuzzer must never revoke


def _settings(home: Path, sim_url: str) -> Any:
    common = {"api_key_env": "CORRAL_FUZZ_SIM_KEY", "read_timeout_s": 3.0}
    fast = {"retry": {"max_attempts": 2, "base_delay_s": 0.0, "max_delay_s": 0.0},
            "timeouts": {"first_token_s": 1.0, "idle_s": 1.0, "total_s": 4.0}}
    oa = {"provider": "oa", "model": "gpt-sim"}
    return settings_for(
        home,
        {
            "oa": {"type": "openai", "base_url": f"{sim_url}/v1", **common},
            "an": {"type": "anthropic", "base_url": sim_url, **common},
            "ge": {"type": "gemini", "base_url": sim_url, **common},
        },
        {
            "sim": {"deployments": [oa], "aliases": ["sim-alias"], **fast},
            "sim-anthropic": {"deployments": [{"provider": "an", "model": "claude-sim"}], **fast},
            "sim-gemini": {"deployments": [{"provider": "ge", "model": "gemini-sim"}], **fast},
            FLAKY_ROUTE: {"deployments": [{"provider": "oa", "model": "flaky-sim"}], **fast},
            "redact": {"deployments": [oa], "privacy": {"policy": "redact"}, **fast},
            "block": {"deployments": [oa], "privacy": {"policy": "block"}, **fast},
            "embed": {"deployments": [{"provider": "oa", "model": "text-embedding-sim"}], **fast},
        },
        observability={"capture_content": True},
    )


def _warm_up(url: str, key: str) -> None:
    """Load the PII detector and token counters now, so their start-up is not read as a hang."""
    auth = {"authorization": f"Bearer {key}"}
    for model in ("redact", "sim"):
        httpx.post(f"{url}/v1/chat/completions", headers=auth, timeout=60,
                   json={"model": model, "messages": [{"role": "user", "content": "warm up"}]})


def _make_keys(url: str, admin_key: str) -> tuple[dict[str, str], set[str]]:
    """Create the second team's keys and a revoked key through the admin API."""
    auth = {"authorization": f"Bearer {admin_key}"}
    made: dict[str, dict[str, Any]] = {}
    wanted = (("blue", "blue", ["inference"]), ("blue_admin", "blue", ["admin", "inference"]),
              ("revoked", "blue", ["inference"]))
    for role, team, scopes in wanted:
        r = httpx.post(f"{url}/admin/keys", json={"name": role, "team": team, "scopes": scopes},
                       headers=auth, timeout=10)
        r.raise_for_status()
        made[role] = r.json()
    httpx.delete(f"{url}/admin/keys/{made['revoked']['id']}", headers=auth, timeout=10).raise_for_status()
    return {role: info["key"] for role, info in made.items()}, {info["id"] for info in made.values()}


@contextmanager
def running_target(home: Path, seed: int) -> Iterator[Target]:
    """Simulator + gateway for the duration of the block."""
    sim_settings = SimSettings(output_tokens=6, require_key=SIM_KEY, hang_s=2.0, seed=seed,
                               context_window=4096)
    mp = pytest.MonkeyPatch()
    mp.setenv("CORRAL_FUZZ_SIM_KEY", SIM_KEY)
    try:
        with SimulatorThread(sim_settings, faults=_FAULTS) as sim:
            for server in serve_in_thread(create_app(_settings(home, sim.url), warmup=False)):
                boot = server.gateway.bootstrap
                extra, made_ids = _make_keys(server.url, boot.admin_key)
                _warm_up(server.url, boot.default_key)
                keys = {"admin": boot.admin_key, "inference": boot.default_key, **extra}
                port = int(server.url.rsplit(":", 1)[1])
                yield Target(server.url, "127.0.0.1", port, keys,
                             frozenset({boot.admin.id, boot.default.id, *made_ids}))
    finally:
        mp.undo()
