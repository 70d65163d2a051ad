"""A small client of a running gateway's vector-store and Files API, for `corral kb`.

It is `BatchClient` (corral.batches.client) with the vector-store calls: the same session,
key lookup ($CORRAL_API_KEY, or $OPENAI_API_KEY when it holds a Corral key) and errors that
say what to do, so the two commands behave alike and the plumbing exists once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from corral.batches.client import KEY_ENV, BatchClient

PAGE = 100  # the API's largest page


class KnowledgeClient(BatchClient):
    async def upload_document(self, path: Path, purpose: str = "assistants") -> dict[str, Any]:
        """Upload one document (streamed from disk) to /v1/files."""
        with path.open("rb") as handle:
            form = aiohttp.FormData()
            form.add_field("purpose", purpose)
            form.add_field("file", handle, filename=path.name, content_type="application/octet-stream")
            return await self._json("POST", "/v1/files", data=form)

    async def delete_upload(self, file_id: str) -> None:
        await self._json("DELETE", f"/v1/files/{quote(file_id, safe='')}")

    async def stores(self) -> list[dict[str, Any]]:
        """Every store of the team, newest first."""
        return await self._all("/v1/vector_stores")

    async def create_store(self, name: str) -> dict[str, Any]:
        return await self._json("POST", "/v1/vector_stores", json={"name": name})

    async def find_store(self, ref: str) -> dict[str, Any] | None:
        """A store by id (vs_...) or by name (the newest of that name)."""
        if ref.startswith("vs_"):
            return await self.store(ref)
        return next((s for s in await self.stores() if s.get("name") == ref), None)

    async def store(self, store_id: str) -> dict[str, Any]:
        return await self._json("GET", f"/v1/vector_stores/{quote(store_id, safe='')}", batch_id=store_id)

    async def store_files(self, store_id: str, status: str | None = None) -> list[dict[str, Any]]:
        params = {"filter": status} if status else {}
        return await self._all(f"/v1/vector_stores/{quote(store_id, safe='')}/files", **params)

    async def remove_file(self, store_id: str, file_id: str) -> None:
        path = f"/v1/vector_stores/{quote(store_id, safe='')}/files/{quote(file_id, safe='')}"
        await self._json("DELETE", path)

    async def create_file_batch(self, store_id: str, files: list[dict[str, Any]]) -> dict[str, Any]:
        return await self._json("POST", f"/v1/vector_stores/{quote(store_id, safe='')}/file_batches",
                                json={"files": files}, batch_id=store_id)

    async def file_batch(self, store_id: str, batch_id: str) -> dict[str, Any]:
        return await self._json("GET", f"/v1/vector_stores/{quote(store_id, safe='')}/file_batches/"
                                f"{quote(batch_id, safe='')}", batch_id=store_id)

    async def batch_files(self, store_id: str, batch_id: str, status: str) -> list[dict[str, Any]]:
        return await self._all(f"/v1/vector_stores/{quote(store_id, safe='')}/file_batches/"
                               f"{quote(batch_id, safe='')}/files", filter=status)

    async def search(self, store_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._json("POST", f"/v1/vector_stores/{quote(store_id, safe='')}/search", json=body,
                                batch_id=store_id)

    async def reembed(self, store_id: str, model: str) -> dict[str, Any]:
        """Corral's extension: re-embed the store with the route `model` (the store, in progress)."""
        return await self._json("POST", f"/v1/vector_stores/{quote(store_id, safe='')}/reembed",
                                json={"model": model}, batch_id=store_id)

    async def _all(self, path: str, **params: str) -> list[dict[str, Any]]:
        """Every item of a cursor-paged list, following `after`."""
        items: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            query = {"limit": str(PAGE), **params, **({"after": after} if after else {})}
            page = await self._json("GET", path, params=query)
            data = page.get("data") or []
            items += data
            if not page.get("has_more") or not data:
                return items
            after = data[-1]["id"]

    def _advice(self, status: int, message: str, batch_id: str | None) -> str:
        if status == 404 and batch_id is not None:
            return (f"No vector store {batch_id!r} for your team: a store is visible only to keys of the "
                    "team that created it. `corral kb list` shows your team's stores.")
        if status == 403 and "limit" in message:
            return f"The gateway refused: {message}"
        if status == 403:
            return (f"The key may not use vector stores ({message}). Use a key with the inference scope in "
                    f"{KEY_ENV} or --key.")
        return super()._advice(status, message, batch_id)
