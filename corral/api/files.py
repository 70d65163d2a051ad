"""`/v1/files`: OpenAI's Files API. HTTP only: read the form or query, call `FileStore`, format.

Every endpoint needs the `inference` scope and works on the caller's team's files; another
team's file is answered exactly like a missing one (404). Uploads are read as a stream
(`corral.api.multipart`) straight into the database: `server.max_body_bytes`, the limit
for JSON bodies, does not apply to them; `files.max_file_bytes` does (413).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from corral.api.auth import BodyIncomplete, authenticate
from corral.api.multipart import MultipartReader, Part, boundary_of
from corral.api.responses import json_response
from corral.core.context import Caller
from corral.core.errors import InvalidRequest
from corral.files import FileObject, FileTooLarge
from corral.files.store import FileStore
from corral.files.types import (
    MAX_EXPIRY_S,
    MAX_FILENAME_CHARS,
    MIN_EXPIRY_S,
    PURPOSES,
    UPLOAD_PURPOSES,
)
from corral.files.upload import Upload

FIELD_BYTES = 1024  # purpose, expires_after[...]: short values
FORM_SLACK_BYTES = 64 * 1024  # what a form may add to its file (boundaries, headers, fields)
MAX_LIST = 10_000
# Purposes OpenAI knows that Corral does not serve: a clear 400 (and, in a list filter, none).
OTHER_OPENAI_PURPOSES = ("fine-tune", "fine-tune-results", "vision", "evals", "assistants_output")
FIELDS = ("purpose", "expires_after[anchor]", "expires_after[seconds]")


def file_wire(found: FileObject) -> dict[str, Any]:
    """OpenAI's File object; `status` is always `processed`: a file is visible once whole."""
    return {
        "id": found.id,
        "object": "file",
        "bytes": found.bytes,
        "created_at": int(found.created_at.timestamp()),
        "expires_at": None if found.expires_at is None else int(found.expires_at.timestamp()),
        "filename": found.filename,
        "purpose": found.purpose,
        "status": "processed",
        "status_details": None,
    }


def _store(request: Request) -> FileStore:
    gateway = request.app.state.gateway
    return FileStore(gateway.db, gateway.settings.files)


def _upload_purpose(value: str) -> str:
    if value in UPLOAD_PURPOSES:
        return value
    supported = ", ".join(UPLOAD_PURPOSES)
    if value == "batch_output":
        raise InvalidRequest(f"Purpose 'batch_output' is for files Corral writes (a batch's results); "
                             f"upload with one of: {supported}.", param="purpose")
    raise InvalidRequest(f"Purpose {value!r} is not supported by Corral; use one of: {supported}.",
                         param="purpose")


@dataclass
class UploadForm:
    """The form's small fields, each checked as it arrives (so a bad purpose sent before the
    file is refused before the file is read)."""

    purpose: str | None = None
    anchor: str | None = None
    seconds: int | None = None

    def take(self, name: str, value: str) -> None:
        if name == "purpose":
            self.purpose = _upload_purpose(value)
        elif name == "expires_after[anchor]":
            if value != "created_at":
                raise InvalidRequest(f"expires_after[anchor] must be 'created_at', not {value!r}.",
                                     param="expires_after[anchor]")
            self.anchor = value
        elif not (value.isascii() and value.isdigit() and MIN_EXPIRY_S <= int(value) <= MAX_EXPIRY_S):
            raise InvalidRequest(f"expires_after[seconds] must be a whole number of seconds from "
                                 f"{MIN_EXPIRY_S} (1 hour) to {MAX_EXPIRY_S} (30 days), not {value!r}.",
                                 param="expires_after[seconds]")
        else:
            self.seconds = int(value)

    def expires_after_s(self) -> int | None:
        if (self.anchor is None) != (self.seconds is None):
            missing = "expires_after[seconds]" if self.seconds is None else "expires_after[anchor]"
            raise InvalidRequest(f"expires_after needs both anchor and seconds; {missing} is missing.",
                                 param=missing)
        return self.seconds


async def _body(request: Request) -> AsyncIterator[bytes]:
    try:
        async for chunk in request.stream():
            yield chunk
    except ClientDisconnect:
        raise BodyIncomplete("The connection closed before the upload was complete.") from None


def _filename(part: Part) -> str:
    name = part.filename
    if not name:
        raise InvalidRequest("'file' must be a file part with a filename (Content-Disposition: "
                             'form-data; name="file"; filename="...").', param="file")
    if len(name) > MAX_FILENAME_CHARS or "\x00" in name:
        raise InvalidRequest(f"The filename must be at most {MAX_FILENAME_CHARS} characters, without NUL.",
                             param="file")
    return name


async def _store_upload(reader: MultipartReader, store: FileStore, caller: Caller) -> FileObject:
    """Read the form part by part; the file goes to the store as it arrives, and is removed
    again if anything fails before it commits."""
    form = UploadForm()
    upload: Upload | None = None
    async with AsyncExitStack() as stack:
        async for part in reader:
            if part.name == "file":
                if upload is not None:
                    raise InvalidRequest("Send one file per upload.", param="file")
                upload = await stack.enter_async_context(store.upload(
                    caller.team, _filename(part), key_id=caller.key_id, purpose=form.purpose))
                async for chunk in part:
                    await upload.write(chunk)
            elif part.name in FIELDS:
                form.take(part.name, await part.text(FIELD_BYTES))
            else:
                raise InvalidRequest(f"Unrecognized form field {part.name!r}; the fields are 'file', "
                                     f"{', '.join(repr(f) for f in FIELDS)}.", param=part.name)
        if upload is None:
            raise InvalidRequest("'file' is required: the file to upload, as a file part.", param="file")
        if form.purpose is None:
            raise InvalidRequest(f"'purpose' is required: one of {', '.join(UPLOAD_PURPOSES)}.",
                                 param="purpose")
        return await upload.commit(form.purpose, form.expires_after_s())


async def create_file(request: Request) -> Response:
    caller = await authenticate(request, "inference")
    store = _store(request)
    limit = store.settings.max_file_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isascii() and declared.isdigit() and int(declared) > limit + FORM_SLACK_BYTES:
        raise FileTooLarge(limit)  # refused before a byte of the body is read
    reader = MultipartReader(_body(request), boundary_of(request.headers.get("content-type")))
    return json_response(file_wire(await _store_upload(reader, store, caller)))


def _query_int(request: Request, name: str, default: int, top: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= top):
        raise InvalidRequest(f"'{name}' must be a whole number from 1 to {top}, not {raw!r}.", param=name)
    return int(raw)


async def list_files(request: Request) -> Response:
    caller = await authenticate(request, "inference")
    query = request.query_params
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise InvalidRequest(f"'order' must be 'asc' or 'desc', not {order!r}.", param="order")
    purpose = query.get("purpose")
    if purpose is not None and purpose not in (*PURPOSES, *OTHER_OPENAI_PURPOSES):
        raise InvalidRequest(f"Unknown purpose {purpose!r}; Corral stores files of purpose "
                             f"{', '.join(PURPOSES)}.", param="purpose")
    page = await _store(request).list(caller.scope, purpose=purpose, order=order, after=query.get("after"),
                                      limit=_query_int(request, "limit", MAX_LIST, MAX_LIST))
    data = [file_wire(f) for f in page.files]
    return json_response({"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
                          "last_id": data[-1]["id"] if data else None, "has_more": page.has_more})


async def get_file(request: Request) -> Response:
    caller = await authenticate(request, "inference")
    return json_response(file_wire(await _store(request).get(request.path_params["file_id"], caller.scope)))


async def delete_file(request: Request) -> Response:
    caller = await authenticate(request, "inference")
    file_id = request.path_params["file_id"]
    await _store(request).delete(file_id, caller.scope)
    return json_response({"id": file_id, "object": "file", "deleted": True})


async def file_content(request: Request) -> Response:
    caller = await authenticate(request, "inference")
    found, chunks = await _store(request).open(request.path_params["file_id"], caller.scope)
    return StreamingResponse(chunks, media_type="application/octet-stream",
                             headers={"content-length": str(found.bytes)})


ROUTES = [
    Route("/v1/files", create_file, methods=["POST"]),
    Route("/v1/files", list_files, methods=["GET"]),
    Route("/v1/files/{file_id}", get_file, methods=["GET"]),
    Route("/v1/files/{file_id}", delete_file, methods=["DELETE"]),
    Route("/v1/files/{file_id}/content", file_content, methods=["GET"]),
]
