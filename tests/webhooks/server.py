"""A real Corral (fake models, fast queue) with webhook endpoints, one per scenario team, each
pointing at its own loopback receiver; and helpers to reach it with the official SDK."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai

from corral.api.app import create_app
from tests.conftest import RunningServer, database_on, serve_in_thread, settings_for
from tests.webhooks.receiver import Receiver

MODELS = ("echo", "slow", "fail-429")


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


@dataclass
class Hooked:
    server: RunningServer
    receivers: dict[str, Receiver]  # endpoint name -> its receiver
    secrets: dict[str, str]  # endpoint name -> whsec_ secret
    keys: dict[str, str]  # team -> an inference key of that team

    def sdk(self, team: str = "default") -> openai.OpenAI:
        return openai.OpenAI(base_url=self.server.url + "/v1", api_key=self.keys[team], max_retries=0)

    def metric(self, event: str, outcome: str) -> float:
        text = httpx.get(self.server.url + "/metrics", timeout=10,
                         headers={"authorization": f"Bearer {self.server.admin_key}"}).text
        line = f'corral_webhook_deliveries_total{{event="{event}",outcome="{outcome}"}} '
        return sum(float(row[len(line):]) for row in text.splitlines() if row.startswith(line))


def hooked_server(backend: str, tmp: Path, monkeypatch: Any) -> Iterator[Hooked]:
    receivers = {"main": Receiver(), "growth": Receiver(), "retry": Receiver(fail_first=1),
                 "hang": Receiver(hang_first=1, hang_s=8.0), "failures": Receiver()}
    teams = {"main": "default", "growth": "growth", "retry": "retry-team", "hang": "hang-team",
             "failures": "filter-team"}
    extra: dict[str, dict[str, Any]] = {"hang": {"timeout_s": 0.5},
                                        "failures": {"events": ["response.failed"]}}
    secrets = {name: new_secret() for name in receivers}
    endpoints = {}
    for name, receiver in receivers.items():
        monkeypatch.setenv(f"HOOK_SECRET_{name.upper()}", secrets[name])
        endpoints[name] = {"url": receiver.url, "secret": {"env": f"HOOK_SECRET_{name.upper()}"},
                           "teams": [teams[name]], "backoff_base_s": 0.2, "backoff_max_s": 1.0,
                           "timeout_s": 2.0, **extra.get(name, {})}
    for name in ("main", "growth", "hang", "failures"):  # "retry" stays down until its test
        receivers[name].up()
    routes: dict[str, Any] = {m: {"deployments": [{"provider": "fake", "model": m}],
                                  "retry": {"max_attempts": 1}} for m in MODELS}
    try:
        with database_on(backend, tmp) as url:
            settings = settings_for(
                tmp, {"fake": {"type": "fake"}}, routes, database_url=url,
                jobs={"poll_interval_s": 0.05, "retry_base_s": 0.1, "retry_max_s": 1.0, "concurrency": 8},
                batches={"check_interval_s": 0.1}, webhooks={"endpoints": endpoints})
            for server in serve_in_thread(create_app(settings, warmup=False)):
                keys = {"default": server.app_key}
                for team in ("growth", "retry-team", "hang-team", "filter-team"):
                    keys[team] = _new_key(server, team)
                yield Hooked(server, receivers, secrets, keys)
    finally:
        for receiver in receivers.values():
            receiver.down()


def _new_key(server: RunningServer, team: str) -> str:
    r = httpx.post(server.url + "/admin/keys",
                   json={"name": f"k-{team}", "team": team, "scopes": ["inference"]},
                   headers={"authorization": f"Bearer {server.admin_key}"}, timeout=10)
    assert r.status_code == 201, r.text
    return str(r.json()["key"])
