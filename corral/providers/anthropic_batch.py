"""Anthropic's Message Batches API (`/v1/messages/batches`), for routes with `batch: native`.

Requests go inline (`{"requests": [{"custom_id", "params"}]}`, no file upload); `params` is
the body the adapter's synchronous call would send (`AnthropicWire`, which
`AnthropicProvider` is), and each result's message is parsed by the same function. A
result is `succeeded` (the message), `errored` (an error envelope, mapped like a
synchronous error), `canceled` or `expired` (not run).

Anthropic's batches carry no metadata, so `find` cannot recognise one Corral submitted:
a collecting job killed between the provider creating its batch and the job storing the
batch's id submits again when it re-runs (Corral's output still has each line once; the
provider may bill the chunk twice). docs/batches.md says so.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any, Protocol

import orjson

from corral.core.deferred import NativeLine, NativeRequest
from corral.core.errors import CorralError, UnsupportedParameter, UpstreamBadResponse, UpstreamError
from corral.core.types import ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse
from corral.providers._anthropic_wire import ERROR_STATUS
from corral.providers.http import HttpClient, loads_or_bad
from corral.providers.native_batch import NativeBatchAPI, NativeBatchInfo, NativeFailure

NOT_RUN = {"canceled": ("batch_cancelled", "was cancelled before it ran this request"),
           "expired": ("batch_expired", "expired before it ran this request")}


class AnthropicWire(Protocol):
    """The adapter's translation, shared with its synchronous calls."""

    name: str

    def chat_body(self, request: ChatRequest) -> dict[str, Any]: ...

    def parse_chat(self, payload: Any) -> ChatResponse: ...

    def error(self, status: int | None, body: dict[str, Any]) -> UpstreamError: ...


def _unix(value: Any) -> int:
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
    return int(value) if isinstance(value, int | float) else 0


def _info(data: dict[str, Any]) -> NativeBatchInfo:
    status = str(data.get("processing_status") or "in_progress")
    if status == "canceling":
        status = "cancelling"
    elif status == "ended":
        status = "cancelled" if data.get("cancel_initiated_at") else "completed"
    return NativeBatchInfo(id=str(data["id"]), status=status, created_at=_unix(data.get("created_at")))


def _result(row: dict[str, Any], batch_id: str) -> NativeLine | NativeFailure:
    result = row.get("result")
    if not isinstance(result, dict):
        result = {}
    kind = str(result.get("type"))
    if kind == "succeeded" and isinstance(result.get("message"), dict):
        return NativeLine(200, result["message"], batch_id)
    if kind == "errored" and isinstance(result.get("error"), dict):
        envelope = result["error"]
        etype = str((envelope.get("error") or {}).get("type") or envelope.get("type") or "")
        return NativeLine(ERROR_STATUS.get(etype, 500), envelope, batch_id)
    code, what = NOT_RUN.get(kind, ("native_request_failed", f"gave no answer ({kind})"))
    return NativeFailure(code, f"The provider's batch {what}.")


class AnthropicBatchAPI(NativeBatchAPI):
    def __init__(self, wire: AnthropicWire, http: HttpClient, base_url: str, headers: dict[str, str]) -> None:
        self.wire = wire
        self.http = http
        self.base_url = base_url + "/v1/messages/batches"
        self.headers = headers

    def line(self, request: ChatRequest | EmbeddingRequest) -> NativeRequest:
        if isinstance(request, EmbeddingRequest):
            raise UnsupportedParameter(f"Provider '{self.wire.name}' (anthropic) does not serve embeddings.",
                                       param="model")
        return NativeRequest("/v1/messages", self.wire.chat_body(request))

    def parse(self, request: ChatRequest | EmbeddingRequest,
              line: NativeLine) -> ChatResponse | EmbeddingResponse:
        if line.status_code != 200:
            raise self.wire.error(line.status_code, line.body)
        return self.wire.parse_chat(line.body)

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> bytes:
        data = None if body is None else orjson.dumps(body)
        headers = self.headers if data is None else {**self.headers, "content-type": "application/json"}
        status, answer = await self.http.send(method, self.base_url + path, data, headers)
        if status != 200:
            found = loads_or_bad(answer, self.wire.name) if answer.startswith(b"{") else {}
            raise self.wire.error(status, found if isinstance(found, dict) else {})
        return answer

    async def _json(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = loads_or_bad(await self._call(method, path, body), self.wire.name)
        if not isinstance(data, dict):
            raise UpstreamBadResponse(f"Provider '{self.wire.name}' answered {path} with a non-object.",
                                      provider=self.wire.name)
        return data

    async def submit(self, name: str, lines: list[tuple[str, NativeRequest]], tag: str) -> NativeBatchInfo:
        requests = [{"custom_id": custom_id, "params": request.body} for custom_id, request in lines]
        return _info(await self._json("POST", "", {"requests": requests}))

    async def find(self, tag: str, since: int) -> NativeBatchInfo | None:
        return None  # no metadata to recognise a batch by (see the module docstring)

    async def retrieve(self, batch_id: str) -> NativeBatchInfo:
        return _info(await self._json("GET", f"/{batch_id}"))

    async def cancel(self, batch_id: str) -> NativeBatchInfo:
        return _info(await self._json("POST", f"/{batch_id}/cancel"))

    async def results(self, batch: NativeBatchInfo) -> dict[str, NativeLine | NativeFailure]:
        found: dict[str, NativeLine | NativeFailure] = {}
        for raw in (await self._call("GET", f"/{batch.id}/results")).splitlines():
            if raw.strip():
                row = orjson.loads(raw)
                found[str(row.get("custom_id"))] = _result(row, batch.id)
        return found

    async def discard(self, batch: NativeBatchInfo) -> None:
        with contextlib.suppress(CorralError):
            await self._call("DELETE", f"/{batch.id}")
