"""The work: a bounded pool of workers takes job ids from a queue, one report each at a time.

A job is a background response on Corral (``responses.create(background=True)``), read with
``responses.retrieve`` once it ends, then an optional webhook. With Corral's webhooks configured
(``signals``), the worker waits for the receiver to wake it and polls only as a fallback every
``fallback_poll_s`` (a webhook can be lost or late); without, it polls on the short schedule.
Every step is written to the job store first, so a restart resumes where the job was: submitted
jobs are checked at once, the others submitted, finished jobs whose webhook is due are delivered.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import openai
from openai import AsyncOpenAI

from report_service.signals import Signals, wait
from report_service.store import TERMINAL, JobStore, public

log = logging.getLogger("report_service.runner")
FINAL = ("completed", "incomplete", "failed", "cancelled")  # a Response's terminal statuses
TRANSIENT = (openai.APIConnectionError, openai.APITimeoutError, openai.InternalServerError)

INSTRUCTIONS = (
    "You write {title} reports about customers for a regulated analytics company. Follow the "
    "template for report type {type} in the sources, section by section, and the style guide. Use "
    "only the customer data given; do not invent figures. Plain text, short sections."
)


@dataclass
class RunnerSettings:
    model: str = "reports"
    concurrency: int = 32
    max_output_tokens: int = 400
    max_num_results: int = 4
    # First poll after poll_interval_s, then x1.25 up to poll_max_s: a report that Corral finishes
    # is seen at most poll_max_s later (the case study measured 2.5 s of its median spent waiting
    # for a x1.5 schedule capped at 5 s; a poll is one cheap GET).
    poll_interval_s: float = 0.5
    poll_max_s: float = 1.0
    # With Corral's webhooks: the poll that still finishes a report whose event was lost or late.
    fallback_poll_s: float = 5.0
    transient_attempts: int = 6  # Corral unreachable or 5xx: tries per step before the job fails
    webhook_retries: int = 3
    webhook_backoff_s: float = 0.5
    degraded_attempts: int = 3  # tries while Corral answers with the route's degraded message
    degraded_backoff_s: float = 30.0


def customer_text(customer: dict[str, Any]) -> str:
    """The customer's data as labelled lines ("Date of birth: 1975-07-14"), not raw JSON: Corral's
    detector reads labels written as words (a JSON key such as "date_of_birth" is no label to it)."""
    lines = []
    for key, value in customer.items():
        label = str(key).replace("_", " ").capitalize()
        if isinstance(value, list):
            lines.append(f"{label}:")
            lines += [f"  - {_flat(item)}" for item in value]
        else:
            lines.append(f"{label}: {_flat(value)}")
    return "\n".join(lines)


def _flat(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{str(k).replace('_', ' ')}: {_flat(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "; ".join(_flat(v) for v in value)
    return json.dumps(value) if value is None or isinstance(value, bool) else str(value)


def report_input(report_type: str, customer: dict[str, Any]) -> list[dict[str, str]]:
    """Two user messages: the data, then the task. Corral's file_search queries with the latest
    user message, so the search is mostly about the report type, not the customer's data. The
    name in the task is redacted like the data (and restored in the report); a small model copies
    "Report for <placeholder>" far more reliably than it follows "address the customer by name"."""
    title = report_type.replace("-", " ")
    name = customer.get("full_name") or customer.get("name")
    task = f"Report type: {report_type}. Write the {title} report"
    task += f" for the customer {name}" if name else " for this customer"
    task += ", section by section, following its template and the style guide."
    if name:
        task += f" Begin with: Report for {name}."
    return [
        {"role": "user", "content": f"Customer data:\n{customer_text(customer)}"},
        {"role": "user", "content": task},
    ]


class Runner:
    def __init__(self, store: JobStore, client: AsyncOpenAI, http: aiohttp.ClientSession,
                 store_id: Callable[[], Awaitable[str]], settings: RunnerSettings,
                 signals: Signals | None = None) -> None:
        self.store, self.client, self.http, self.store_id = store, client, http, store_id
        self.settings, self.signals = settings, signals
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.in_flight = 0
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._worker(), name=f"report-worker-{i}")
                       for i in range(self.settings.concurrency)]

    async def stop(self) -> None:
        """Stop at once: unfinished jobs stay queued / in_progress in the store and resume on start."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def enqueue(self, job_id: str) -> None:
        self.queue.put_nowait(job_id)

    async def _worker(self) -> None:
        while True:
            job_id = await self.queue.get()
            self.in_flight += 1
            try:
                await self.run(job_id)
            except asyncio.CancelledError:
                raise
            except Exception:  # one job's bug must not kill the worker
                log.exception("job %s crashed", job_id)
                await self.store.update(job_id, status="failed", error="internal error in report-service")
            finally:
                self.in_flight -= 1

    async def run(self, job_id: str) -> None:
        job = await self.store.get(job_id)
        if job is None:
            return
        attempt = 0
        while job["status"] not in TERMINAL:
            attempt += 1
            if await self._generate(job, last=attempt >= self.settings.degraded_attempts):
                break
            await asyncio.sleep(self.settings.degraded_backoff_s * 2 ** (attempt - 1))
            job = await self.store.get(job_id)
            assert job is not None
        job = await self.store.get(job_id)
        assert job is not None
        if job["webhook_state"] == "pending":
            await self._deliver(job)

    async def _generate(self, job: dict[str, Any], last: bool) -> bool:
        """Run the job to a final state; False when Corral only had its degraded message (retry)."""
        job_id, response_id = job["id"], job["response_id"]
        fresh = response_id is None
        try:
            if response_id is None:
                store_id = await self.store_id()
                response = await self._transient(lambda: self.client.responses.create(
                    model=self.settings.model,
                    background=True,
                    instructions=INSTRUCTIONS.format(type=job["report_type"],
                                                     title=job["report_type"].replace("-", " ")),
                    input=report_input(job["report_type"], job["customer"]),  # type: ignore[arg-type]
                    tools=[{"type": "file_search", "vector_store_ids": [store_id],
                            "max_num_results": self.settings.max_num_results}],
                    metadata={"report_type": job["report_type"], "service": "report-service"},
                    max_output_tokens=self.settings.max_output_tokens,
                ))
                response_id = response.id
                await self.store.update(job_id, status="in_progress", response_id=response_id)
                log.info("job %s submitted as %s", job_id, response_id)
            response, seen_by = await self._until_final(response_id, check_first=not fresh)
        except openai.APIStatusError as exc:
            await self.store.update(job_id, status="failed",
                                    error=f"Corral answered {exc.status_code}: {_message(exc)}")
            return True
        except TRANSIENT as exc:
            await self.store.update(job_id, status="failed", error=f"Corral unreachable: {exc}")
            return True
        usage = response.usage.model_dump(exclude_none=True) if response.usage else None
        if response.status == "completed" and degraded(response):
            log.warning("job %s: %s is Corral's degraded message (every model failed)", job_id, response_id)
            if not last:
                await self.store.update(job_id, status="queued", response_id=None)
                return False
            await self.store.update(job_id, status="failed", usage=usage, finished_by=seen_by,
                                    error=f"every model failed; Corral answered: {response.output_text}")
        elif response.status in ("completed", "incomplete"):
            await self.store.update(job_id, status="completed", report=response.output_text, usage=usage,
                                    finished_by=seen_by)
        else:
            error = response.error.message if response.error else f"response {response.status}"
            await self.store.update(job_id, status="failed", error=error, usage=usage, finished_by=seen_by)
        log.info("job %s: response %s %s (seen by %s)", job_id, response_id, response.status, seen_by)
        return True

    async def _until_final(self, response_id: str, check_first: bool) -> tuple[Any, str]:
        """The finished response and how the service learned it ended: "webhook" (Corral's event
        woke this worker) or "poll". With webhooks on, a response just created is not read
        before the first wait (its event wakes the wait, even one that came before it); one
        resumed after a restart is read at once (its event may have come while the service was down)."""
        signal = self.signals.watch(response_id) if self.signals is not None else None
        delay, seen_by, check = self.settings.poll_interval_s, "poll", check_first or signal is None
        try:
            while True:
                if check:
                    response = await self._transient(lambda: self.client.responses.retrieve(response_id))
                    if response.status in FINAL:
                        return response, seen_by
                check = True
                if signal is None:
                    await asyncio.sleep(delay)
                    delay = min(delay * 1.25, self.settings.poll_max_s)
                else:
                    woke = await wait(signal, self.settings.fallback_poll_s)
                    seen_by = "webhook" if woke else "poll"
        finally:
            if self.signals is not None:
                self.signals.forget(response_id)

    async def _transient(self, call: Callable[[], Awaitable[Any]]) -> Any:
        """Retry what a restart of Corral or a network blip causes; everything else is final."""
        for attempt in range(self.settings.transient_attempts):
            try:
                return await call()
            except TRANSIENT:
                if attempt + 1 == self.settings.transient_attempts:
                    raise
                await asyncio.sleep(min(0.5 * 2**attempt, 10.0))
        raise AssertionError("unreachable")

    async def _deliver(self, job: dict[str, Any]) -> None:
        """POST the job to its webhook: 1 try + ``webhook_retries`` with backoff; never fails the job."""
        body = public(job)
        for attempt in range(self.settings.webhook_retries + 1):
            try:
                async with self.http.post(job["webhook_url"], json=body) as answer:
                    if answer.status < 300:
                        await self.store.update(job["id"], webhook_state="delivered")
                        return
                    reason = f"HTTP {answer.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                reason = repr(exc)
            log.warning("webhook for %s: attempt %d failed (%s)", job["id"], attempt + 1, reason)
            if attempt < self.settings.webhook_retries:
                await asyncio.sleep(self.settings.webhook_backoff_s * 2**attempt)
        await self.store.update(job["id"], webhook_state="failed")


def degraded(response: Any) -> bool:
    """Whether the answer is not the model's: Corral marks a response its route's `degraded_message`
    (or a cached answer) stood in for with `corral.degraded`, since a background response has no
    `x-corral-degraded` header (docs/responses.md, "Background mode")."""
    extension = (response.model_extra or {}).get("corral")
    return isinstance(extension, dict) and extension.get("degraded") is not None


def _message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
    return exc.message
