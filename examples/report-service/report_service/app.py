"""The HTTP API (Starlette): submit a report, read it, rate it; ``create_app(ServiceSettings)``."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import openai
from openai import AsyncOpenAI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from report_service.knowledge import STORE_NAME, report_types, sync_store
from report_service.receiver import Receiver
from report_service.runner import Runner, RunnerSettings
from report_service.signals import Signals
from report_service.store import JobStore, public

log = logging.getLogger("report_service")
KNOWLEDGE_DIR = Path(__file__).resolve().parent.parent / "knowledge"
MAX_KEY_CHARS = 255


@dataclass
class ServiceSettings:
    corral_url: str = "http://127.0.0.1:8080"
    api_key: str = ""
    db: str = "reports.db"
    knowledge_dir: Path = KNOWLEDGE_DIR
    store_name: str = STORE_NAME
    # The whsec_ secret of Corral's webhook endpoint for this service; None: no webhooks, poll only.
    webhook_secret: str | None = None
    runner: RunnerSettings = field(default_factory=RunnerSettings)


class Service:
    """What the routes share; built and torn down by the app's lifespan."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.types = set(report_types(settings.knowledge_dir))
        self.store = JobStore(settings.db)
        self.client = AsyncOpenAI(base_url=settings.corral_url.rstrip("/") + "/v1", api_key=settings.api_key)
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self.knowledge = asyncio.get_running_loop().create_future()  # the vector store's id, once synced
        signals, self.receiver = None, None
        if settings.webhook_secret:
            signals = Signals()
            self.receiver = Receiver(self.client, settings.webhook_secret, signals)
        self.runner = Runner(self.store, self.client, self.http, self.store_id, settings.runner, signals)
        self._sync: asyncio.Task[None] | None = None

    async def store_id(self) -> str:
        return str(await asyncio.shield(self.knowledge))

    async def start(self) -> None:
        await self.store.open()
        self.runner.start()
        self._sync = asyncio.create_task(self._sync_knowledge())
        resumed = await self.store.unfinished()
        for job in resumed:
            self.runner.enqueue(job["id"])
        if resumed:
            log.info("resumed %d unfinished job(s)", len(resumed))

    async def _sync_knowledge(self) -> None:
        """Sync the knowledge store, retrying while Corral is not up yet; jobs wait for it."""
        delay = 1.0
        while True:
            try:
                result = await sync_store(self.client, self.settings.knowledge_dir, self.settings.store_name)
            except (openai.APIError, OSError, RuntimeError) as exc:
                log.warning("knowledge sync failed (%s); retrying in %.0f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            self.knowledge.set_result(result.store_id)
            return

    async def stop(self) -> None:
        if self._sync is not None:
            self._sync.cancel()
            await asyncio.gather(self._sync, return_exceptions=True)
        await self.runner.stop()
        await self.http.close()
        await self.client.close()
        await self.store.close()


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _json_object(request: Request) -> dict[str, Any] | JSONResponse:
    try:
        body = json.loads(await request.body())
    except ValueError:
        return _error(400, "The body must be a JSON object.")
    if not isinstance(body, dict):
        return _error(400, "The body must be a JSON object.")
    return body


async def create_report(request: Request) -> JSONResponse:
    service: Service = request.app.state.service
    body = await _json_object(request)
    if isinstance(body, JSONResponse):
        return body
    unknown = sorted(set(body) - {"report_type", "customer", "webhook_url"})
    if unknown:
        return _error(400, f"Unknown field(s): {', '.join(unknown)}.")
    report_type, customer, webhook = body.get("report_type"), body.get("customer"), body.get("webhook_url")
    if not isinstance(report_type, str) or report_type not in service.types:
        known = ", ".join(sorted(service.types))
        return _error(400, f"Unknown report type {report_type!r}; known types: {known}.")
    if not isinstance(customer, dict) or not customer:
        return _error(400, "'customer' must be a non-empty JSON object.")
    if webhook is not None and (not isinstance(webhook, str) or not webhook.startswith(("http://", "https://"))):
        return _error(400, "'webhook_url' must be an http(s) URL.")
    key = request.headers.get("idempotency-key")
    if key is None:
        job = await service.store.create(report_type, customer, webhook)
    else:
        if not 1 <= len(key) <= MAX_KEY_CHARS or not key.isprintable() or not key.isascii():
            return _error(400, f"'Idempotency-Key' must be 1 to {MAX_KEY_CHARS} printable ASCII characters "
                               "(a UUID is a good choice).")
        digest = request_sha256(report_type, customer, webhook)
        job, created = await service.store.create_once(key, digest, report_type, customer, webhook)
        if job["request_sha256"] != digest:
            return _error(422, f"Idempotency-Key {key!r} was already used for a different request; "
                               "a retry must send the same body, a new report a new key.")
        if not created:  # a retry: the report it asked for already exists, nothing new is queued
            return JSONResponse({"id": job["id"], "status": job["status"]}, status_code=200,
                                headers={"location": f"/reports/{job['id']}", "idempotent-replayed": "true"})
    service.runner.enqueue(job["id"])
    return JSONResponse({"id": job["id"], "status": "queued"}, status_code=202,
                        headers={"location": f"/reports/{job['id']}"})


def request_sha256(report_type: str, customer: dict[str, Any], webhook_url: str | None) -> str:
    """What a retry must repeat: the request's fields, canonically encoded (key order and spacing
    do not count; an absent webhook_url equals null)."""
    canonical = json.dumps({"report_type": report_type, "customer": customer, "webhook_url": webhook_url},
                           sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def get_report(request: Request) -> JSONResponse:
    service: Service = request.app.state.service
    job = await service.store.get(request.path_params["job_id"])
    if job is None:
        return _error(404, f"No report {request.path_params['job_id']!r}.")
    return JSONResponse(public(job))


async def report_feedback(request: Request) -> JSONResponse:
    service: Service = request.app.state.service
    job = await service.store.get(request.path_params["job_id"])
    if job is None:
        return _error(404, f"No report {request.path_params['job_id']!r}.")
    body = await _json_object(request)
    if isinstance(body, JSONResponse):
        return body
    rating, comment = body.get("rating"), body.get("comment")
    if rating not in ("up", "down") or set(body) - {"rating", "comment"}:
        return _error(400, "Send {\"rating\": \"up\"|\"down\", \"comment\": optional string}.")
    if comment is not None and not isinstance(comment, str):
        return _error(400, "'comment' must be a string.")
    if job["response_id"] is None:
        return _error(409, "This report has not been sent to the model yet; rate it once it is done.")
    payload = {"response_id": job["response_id"], "rating": rating}
    if comment:
        payload["comment"] = comment
    try:
        answer = await service.client.post("/feedback", body=payload, cast_to=object)
    except openai.APIStatusError as exc:
        return _error(502, f"Corral refused the feedback ({exc.status_code}): {exc.message}")
    except openai.APIConnectionError as exc:
        return _error(502, f"Corral unreachable: {exc}")
    return JSONResponse({"id": job["id"], "response_id": job["response_id"], "rating": rating,
                         "feedback": answer}, status_code=201)


async def corral_events(request: Request) -> JSONResponse:
    service: Service = request.app.state.service
    if service.receiver is None:
        return _error(404, "Webhooks are not configured: start the service with REPORTS_WEBHOOK_SECRET set.")
    return await service.receiver.handle(request)


async def healthz(request: Request) -> JSONResponse:
    service: Service = request.app.state.service
    ready = service.knowledge.done() and not service.knowledge.cancelled()
    webhooks = None if service.receiver is None else dict(service.receiver.counts)
    return JSONResponse({"status": "ok", "knowledge": "ready" if ready else "syncing",
                         "vector_store_id": service.knowledge.result() if ready else None,
                         "queued": service.runner.queue.qsize(), "in_flight": service.runner.in_flight,
                         "webhooks": webhooks})


def create_app(settings: ServiceSettings) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        service = Service(settings)
        await service.start()
        app.state.service = service
        try:
            yield
        finally:
            await service.stop()

    return Starlette(
        routes=[
            Route("/reports", create_report, methods=["POST"]),
            Route("/reports/{job_id}", get_report, methods=["GET"]),
            Route("/reports/{job_id}/feedback", report_feedback, methods=["POST"]),
            Route("/corral/events", corral_events, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
