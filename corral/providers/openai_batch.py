"""OpenAI's Files and Batches API (`/v1/files`, `/v1/batches`), for routes with `batch: native`.

Lines are translated and parsed by the adapter's own wire functions (`OpenAIWire`, which
`OpenAIProvider` is), so a forwarded line is the body a synchronous call would have sent
and its answer is read the same way. Only the calls around them live here: write the lines
as a JSONL file and upload it (multipart, purpose `batch`), create the batch with Corral's
tag in its metadata, retrieve, list (to find a batch by that tag), cancel, read the output
and error files, and delete the files once read.
"""

from __future__ import annotations

import contextlib
import secrets
from typing import Any, Protocol

import orjson

from corral.core.deferred import NativeLine, NativeRequest
from corral.core.errors import CorralError, UpstreamBadResponse, UpstreamError, UpstreamRejected
from corral.core.types import ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse
from corral.providers.http import HttpClient, loads_or_bad
from corral.providers.native_batch import NativeBatchAPI, NativeBatchInfo, NativeFailure

LIST_PAGE = 100  # OpenAI's largest page of batches
MAX_LIST_PAGES = 20  # how far back `find` looks: 2,000 batches
TAG = "corral_chunk"  # the batch's metadata key that carries Corral's tag (`find` looks for it)


class OpenAIWire(Protocol):
    """The adapter's translation, shared with its synchronous calls."""

    name: str

    def chat_body(self, request: ChatRequest) -> dict[str, Any]: ...

    def parse_chat(self, payload: Any) -> ChatResponse: ...

    def embeddings_body(self, request: EmbeddingRequest) -> dict[str, Any]: ...

    def parse_embeddings(self, payload: Any, request: EmbeddingRequest) -> EmbeddingResponse: ...

    def error(self, status: int, headers: dict[str, str], data: bytes) -> UpstreamError: ...


def _info(data: dict[str, Any]) -> NativeBatchInfo:
    errors = (data.get("errors") or {}).get("data") or []
    return NativeBatchInfo(
        id=str(data["id"]), status=str(data.get("status") or "validating"),
        input_file_id=data.get("input_file_id"), output_file_id=data.get("output_file_id"),
        error_file_id=data.get("error_file_id"),
        errors=[e for e in errors if isinstance(e, dict)], metadata=dict(data.get("metadata") or {}),
        created_at=int(data.get("created_at") or 0),
    )


def _multipart(filename: str, data: bytes) -> tuple[str, bytes]:
    boundary = "corral" + secrets.token_hex(12)
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: application/jsonl\r\n\r\n").encode()
    return f"multipart/form-data; boundary={boundary}", head + data + f"\r\n--{boundary}--\r\n".encode()


class OpenAIBatchAPI(NativeBatchAPI):
    def __init__(self, wire: OpenAIWire, http: HttpClient, base_url: str, headers: dict[str, str]) -> None:
        self.wire = wire
        self.http = http
        self.base_url = base_url
        self.headers = headers

    def line(self, request: ChatRequest | EmbeddingRequest) -> NativeRequest:
        if isinstance(request, EmbeddingRequest):
            return NativeRequest("/v1/embeddings", self.wire.embeddings_body(request))
        return NativeRequest("/v1/chat/completions", self.wire.chat_body(request))

    def parse(self, request: ChatRequest | EmbeddingRequest,
              line: NativeLine) -> ChatResponse | EmbeddingResponse:
        if line.status_code != 200:
            raise self.wire.error(line.status_code, {}, orjson.dumps(line.body))
        if isinstance(request, EmbeddingRequest):
            return self.wire.parse_embeddings(line.body, request)
        return self.wire.parse_chat(line.body)

    async def _call(self, method: str, path: str, body: bytes | None = None,
                    content_type: str | None = None) -> bytes:
        headers = dict(self.headers)
        if content_type is not None:
            headers["content-type"] = content_type
        status, data = await self.http.send(method, self.base_url + path, body, headers)
        if status != 200:
            raise self.wire.error(status, {}, data)
        return data

    async def _json(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        raw = None if body is None else orjson.dumps(body)
        data = loads_or_bad(await self._call(method, path, raw, None if raw is None else "application/json"),
                            self.wire.name)
        if not isinstance(data, dict):
            raise UpstreamBadResponse(f"Provider '{self.wire.name}' answered {path} with a non-object.",
                                      provider=self.wire.name)
        return data

    async def submit(self, name: str, lines: list[tuple[str, NativeRequest]], tag: str) -> NativeBatchInfo:
        data = b"".join(orjson.dumps({"custom_id": custom_id, "method": "POST", "url": request.url,
                                      "body": request.body}) + b"\n" for custom_id, request in lines)
        content_type, body = _multipart(name, data)
        uploaded = loads_or_bad(await self._call("POST", "/files", body, content_type), self.wire.name)
        spec = {"input_file_id": str(uploaded["id"]), "endpoint": lines[0][1].url, "completion_window": "24h",
                "metadata": {TAG: tag}}
        return _info(await self._json("POST", "/batches", spec))

    async def find(self, tag: str, since: int) -> NativeBatchInfo | None:
        after = ""
        for _ in range(MAX_LIST_PAGES):  # newest first: stop at the first batch older than `since`
            cursor = f"&after={after}" if after else ""
            page = await self._json("GET", f"/batches?limit={LIST_PAGE}{cursor}")
            data = [b for b in page.get("data") or [] if isinstance(b, dict)]
            for batch in data:
                if (batch.get("metadata") or {}).get(TAG) == tag:
                    return _info(batch)
                if int(batch.get("created_at") or 0) < since:
                    return None
            if not page.get("has_more") or not data:
                return None
            after = str(data[-1]["id"])
        return None

    async def retrieve(self, batch_id: str) -> NativeBatchInfo:
        return _info(await self._json("GET", f"/batches/{batch_id}"))

    async def cancel(self, batch_id: str) -> NativeBatchInfo:
        return _info(await self._json("POST", f"/batches/{batch_id}/cancel"))

    async def results(self, batch: NativeBatchInfo) -> dict[str, NativeLine | NativeFailure]:
        """The output file (answers) and the error file (error answers, and lines not run)."""
        found: dict[str, NativeLine | NativeFailure] = {}
        for file_id in (batch.output_file_id, batch.error_file_id):
            if file_id:
                for raw in (await self._file(file_id)).splitlines():
                    if raw.strip():
                        row = orjson.loads(raw)
                        found[str(row.get("custom_id"))] = _result(row, batch.id)
        return found

    async def _file(self, file_id: str) -> bytes:
        try:
            return await self._call("GET", f"/files/{file_id}/content")
        except UpstreamRejected as exc:
            if exc.status_code != 404:
                raise
            return b""  # deleted by a run killed after it had read it: its items hold the answers

    async def discard(self, batch: NativeBatchInfo) -> None:
        for file_id in (batch.input_file_id, batch.output_file_id, batch.error_file_id):
            if file_id:
                with contextlib.suppress(CorralError):
                    await self._call("DELETE", f"/files/{file_id}")


def _result(row: dict[str, Any], batch_id: str) -> NativeLine | NativeFailure:
    response = row.get("response")
    if isinstance(response, dict) and isinstance(response.get("body"), dict):
        return NativeLine(int(response.get("status_code") or 200), response["body"], batch_id)
    error = row.get("error")
    if not isinstance(error, dict):
        error = {}
    return NativeFailure(str(error.get("code") or "native_request_failed"),
                         str(error.get("message") or "The provider gave no reason."))
