"""The processes of one run: the simulator, `corral serve`, the report service.

Each writes to a log file in the run's directory (a full pipe would stall a process and the stall
would be measured as its latency); `Stack.stop()` ends every process it started, by its handle.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from processes import stop_all  # bench/processes.py: bench/ is on sys.path (bench/case_study.py)

ROOT = Path(__file__).resolve().parents[2]
SERVICE_DIR = ROOT / "examples" / "report-service"
CORRAL = [sys.executable, "-m", "corral.cli"]
UPSTREAM_MODEL = "gpt-4o-mini"   # the simulator deployment's name: the catalog prices it
ROUTE = "reports"
SIM_KEY = "sk-sim-case-study"
SECRET_ENV = "REPORTS_WEBHOOK_SECRET"   # the whsec_ secret Corral signs with and the service checks


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_http(url: str, proc: subprocess.Popen[bytes] | None = None, within_s: float = 120) -> None:
    deadline = time.monotonic() + within_s
    async with aiohttp.ClientSession() as s:
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"{proc.args} exited with {proc.returncode} before {url} came up")
            try:
                async with s.get(url) as r:
                    if r.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not come up in {within_s} s")


def gateway_config(home: Path, proxy_url: str, *, jobs_concurrency: int,
                   webhook_url: str | None = None) -> dict[str, Any]:
    """Route `reports`: gpt-4o-mini behind the recording proxy, a second deployment (another
    provider entry, priority 1) and a fallback route; privacy `redact`; the built-in embeddings;
    with ``webhook_url``, a webhook endpoint for the service's team (the bootstrap key's, `default`)."""
    providers: dict[str, Any] = {"local-embed": {"type": "local-embed"}}
    for name in ("primary", "secondary", "backup"):
        providers[name] = {"type": "openai", "base_url": f"{proxy_url}/corral/v1", "api_key_env": "SIM_KEY",
                           "max_connections": 400}
    deployment = {"model": UPSTREAM_MODEL, "context_window": 128000}
    privacy = {"policy": "redact"}
    long = {"first_token_s": 900, "idle_s": 900, "total_s": 1800}   # the local model is slow
    webhooks = {} if webhook_url is None else {"webhooks": {"endpoints": {"report-service": {
        "url": webhook_url, "secret": {"env": SECRET_ENV}, "teams": ["default"], "max_attempts": 5,
        "backoff_base_s": 1, "backoff_max_s": 10}}}}
    return {
        **webhooks,
        "home": str(home), "database_url": f"sqlite:///{home / 'corral.db'}",
        "providers": providers,
        "models": {
            ROUTE: {"deployments": [{"provider": "primary", "priority": 0, **deployment},
                                    {"provider": "secondary", "priority": 1, **deployment}],
                    "fallbacks": [f"{ROUTE}-fallback"], "privacy": privacy, "timeouts": long},
            f"{ROUTE}-fallback": {"deployments": [{"provider": "backup", **deployment}], "privacy": privacy,
                                  "timeouts": long},
            "all-minilm-l6-v2": {"aliases": ["local-embed"],
                                 "deployments": [{"provider": "local-embed", "model": "all-minilm-l6-v2"}]}},
        "pricing": {"deployments": {"local-embed": {"input_per_mtok": 0, "output_per_mtok": 0}}},
        "jobs": {"concurrency": jobs_concurrency, "poll_interval_s": 0.1, "max_queued_per_team": 100000},
    }


def local_provider_config(home: Path) -> dict[str, Any]:
    """A second gateway that plays the provider with the built-in local model, named gpt-4o-mini."""
    return {
        "home": str(home), "database_url": f"sqlite:///{home / 'provider.db'}",
        "providers": {"local": {"type": "local", "options": {"n_ctx": 8192, "parallel": 1, "threads": 2}}},
        "models": {UPSTREAM_MODEL: {"deployments": [{"provider": "local", "model": "smollm2-135m-instruct",
                                                     "context_window": 8192}],
                                    "timeouts": {"first_token_s": 900, "idle_s": 900, "total_s": 1800}}},
    }


class Stack:
    def __init__(self, home: Path, *, webhooks: bool = True) -> None:
        """``webhooks``: Corral tells the service when a report finished (the service polls only as
        a fallback); without, the service polls on its short schedule, as before."""
        self.home = home
        self.service_port = free_port()   # known before Corral starts: its webhook endpoint names it
        self.webhook_url = f"http://127.0.0.1:{self.service_port}/corral/events" if webhooks else None
        self.secrets = {} if not webhooks else {
            SECRET_ENV: "whsec_" + base64.b64encode(os.urandom(32)).decode()}
        self.procs: list[subprocess.Popen[bytes]] = []
        self.names: dict[int, str] = {}
        self.upstream_key: str | None = None   # the local provider gateway's key (the proxy sends it)

    def start(self, args: list[str], log_name: str, cwd: Path = ROOT) -> subprocess.Popen[bytes]:
        log = (self.home / log_name).open("ab")
        proc = subprocess.Popen(args, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "SIM_KEY": SIM_KEY, "PYTHONUNBUFFERED": "1",
                                     **self.secrets})
        self.procs.append(proc)
        self.names[proc.pid] = log_name.removesuffix(".log")
        return proc

    def cpu_s(self) -> dict[str, float]:
        """CPU seconds (user + system) used so far by each process started, by its log's name."""
        import psutil
        out: dict[str, float] = {}
        for proc in self.procs:
            try:
                p = psutil.Process(proc.pid)
                total = sum(sum(q.cpu_times()[:2]) for q in [p, *p.children(recursive=True)])
            except psutil.NoSuchProcess:
                continue
            out[self.names.get(proc.pid, str(proc.pid))] = round(total, 2)
        return out

    def stop(self) -> None:
        stop_all(self.procs, grace_s=15)
        self.procs.clear()

    async def simulator(self) -> str:
        port = free_port()
        proc = self.start([*CORRAL, "simulate", "--port", str(port), "--context-window", "128000",
                           "--require-key", SIM_KEY, "--retry-after-s", "1", "--seed", "11"],
                          "simulator.log")
        url = f"http://127.0.0.1:{port}"
        await wait_http(f"{url}/sim/health", proc)
        return url

    async def gateway(self, proxy_url: str, *, jobs_concurrency: int) -> tuple[str, str]:
        return await self._serve(gateway_config(self.home, proxy_url, jobs_concurrency=jobs_concurrency,
                                                webhook_url=self.webhook_url), "corral")

    async def local_provider(self) -> str:
        url, self.upstream_key = await self._serve(local_provider_config(self.home / "provider"), "provider")
        return url

    async def _serve(self, data: dict[str, Any], name: str) -> tuple[str, str]:
        """`corral serve` on a fresh database; its URL and the first start's application key."""
        await asyncio.to_thread(Path(data["home"]).mkdir, parents=True, exist_ok=True)
        config = self.home / f"{name}.yaml"
        config.write_text(json.dumps(data, indent=1))
        port = free_port()
        proc = self.start([*CORRAL, "serve", "--workers", "1", "-c", str(config), "--port", str(port),
                           "--log-level", "warning"], f"{name}.log")
        url = f"http://127.0.0.1:{port}"
        await wait_http(f"{url}/healthz", proc)
        for line in (self.home / f"{name}.log").read_text().splitlines():
            if "application key" in line:
                return url, line.split()[-1]
        raise RuntimeError(f"corral serve ({name}) printed no application key")

    async def service(self, corral_url: str, key: str, *, concurrency: int, max_output_tokens: int,
                      poll_interval_s: float | None, route: str = ROUTE) -> str:
        port = self.service_port
        extra = [] if poll_interval_s is None else ["--poll-interval", str(poll_interval_s)]
        proc = self.start([sys.executable, str(SERVICE_DIR / "service.py"), "--corral-url", corral_url,
                           "--api-key", key, "--port", str(port), "--model", route,
                           "--db", str(self.home / "reports.db"), "--concurrency", str(concurrency),
                           "--max-output-tokens", str(max_output_tokens), "--log-level", "warning", *extra],
                          "service.log")
        url = f"http://127.0.0.1:{port}"
        await wait_http(f"{url}/healthz", proc)
        deadline = time.monotonic() + 600   # the vector store of templates is built at start-up
        async with aiohttp.ClientSession() as s:
            while time.monotonic() < deadline:
                async with s.get(f"{url}/healthz") as r:
                    if (await r.json()).get("knowledge") == "ready":
                        return url
                if proc.poll() is not None:
                    raise RuntimeError(f"service.py exited with {proc.returncode}")
                await asyncio.sleep(0.5)
        raise RuntimeError("the report service's knowledge store was not ready in 600 s")
