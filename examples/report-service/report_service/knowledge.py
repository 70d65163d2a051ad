"""The ``report-knowledge`` vector store: every file of ``knowledge/``, kept in step at startup.

Each store file carries the attributes ``path`` (relative to the knowledge directory) and
``sha256``, so a restart reuses the store by name, uploads only new or changed files and
removes the ones that left the directory. Only Corral's public, OpenAI-shaped API is used.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from openai import AsyncOpenAI

log = logging.getLogger("report_service.knowledge")
STORE_NAME = "report-knowledge"
SUFFIXES = {".md", ".txt", ".html", ".pdf", ".docx"}


@dataclass
class SyncResult:
    store_id: str
    uploaded: int
    removed: int
    kept: int
    failed: int


def report_types(knowledge_dir: Path) -> list[str]:
    """The report types the service accepts: one template file each, ``templates/<type>.md``."""
    return sorted(path.stem for path in (knowledge_dir / "templates").glob("*.md"))


def local_files(knowledge_dir: Path) -> dict[str, Path]:
    return {path.relative_to(knowledge_dir).as_posix(): path
            for path in sorted(knowledge_dir.rglob("*"))
            if path.is_file() and path.suffix.lower() in SUFFIXES}


async def find_store(client: AsyncOpenAI, name: str) -> str | None:
    async for store in client.vector_stores.list(limit=100, order="asc"):
        if store.name == name and store.status != "expired":
            return store.id
    return None


async def sync_store(client: AsyncOpenAI, knowledge_dir: Path, name: str = STORE_NAME,
                     upload_concurrency: int = 8) -> SyncResult:
    """Make sure the store ``name`` holds exactly the files of ``knowledge_dir``; wait for ingestion."""
    wanted = {rel: (path, hashlib.sha256(path.read_bytes()).hexdigest()) for rel, path in
              local_files(knowledge_dir).items()}
    if not wanted:
        raise RuntimeError(f"no knowledge files under {knowledge_dir}")
    store_id = await find_store(client, name)
    if store_id is None:
        store = await client.vector_stores.create(
            name=name, metadata={"service": "report-service"},
            description="Report templates and style guides of the report-generation service")
        store_id = store.id
        log.info("created vector store %s (%s)", name, store_id)
    present: dict[str, str] = {}
    removed = 0
    async for item in client.vector_stores.files.list(store_id, limit=100):
        attrs = item.attributes or {}
        rel, digest = str(attrs.get("path", "")), str(attrs.get("sha256", ""))
        current = wanted.get(rel)
        if current and current[1] == digest and item.status in ("completed", "in_progress") \
                and rel not in present:
            present[rel] = item.id
            continue
        await client.vector_stores.files.delete(item.id, vector_store_id=store_id)
        removed += 1
    missing = [rel for rel in wanted if rel not in present]
    gate = asyncio.Semaphore(upload_concurrency)

    async def upload(rel: str) -> dict[str, object]:
        path, digest = wanted[rel]
        async with gate:
            created = await client.files.create(file=(path.name, path.read_bytes()), purpose="assistants")
        return {"file_id": created.id, "attributes": {"path": rel, "sha256": digest}}

    failed = 0
    if missing:
        files = await asyncio.gather(*(upload(rel) for rel in missing))
        batch = await client.vector_stores.file_batches.create_and_poll(
            store_id, files=files, poll_interval_ms=250)  # type: ignore[arg-type]
        failed = batch.file_counts.failed
        if failed:
            log.warning("%d knowledge file(s) failed to ingest into %s", failed, store_id)
    log.info("vector store %s: %d uploaded, %d kept, %d removed",
             store_id, len(missing), len(present), removed)
    return SyncResult(store_id, len(missing), removed, len(present), failed)
