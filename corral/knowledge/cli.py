"""`corral kb`: fill, list and search vector stores on a running gateway.

Like `corral batch`, it talks to the gateway's public API (`corral.knowledge.client`) with
the key of the team that owns the stores, so it works from any machine that reaches the
gateway and shows what the team's programs see. `ingest` uploads each file through
/v1/files and attaches them with file batches, so they are parsed, embedded and indexed by
the gateway's workers exactly as an SDK upload would be. Progress goes to stderr.
"""

from __future__ import annotations

import asyncio
import glob
import hashlib
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click
import orjson

from corral.batches.cli import _connection
from corral.batches.client import BatchClientError, default_key
from corral.core.text_table import text_table
from corral.knowledge.client import KnowledgeClient

T = TypeVar("T")
BATCH_FILES = 2000  # OpenAI's (and Corral's) largest file batch
MAX_PATH_CHARS = 512  # an attribute value's limit


def _run(url: str, key: str | None, work: Callable[[KnowledgeClient], Awaitable[T]]) -> T:
    """Run `work` with a connected client; its errors become click errors (exit 1)."""
    async def go() -> T:
        client = KnowledgeClient(url, key or default_key())
        async with client:
            return await work(client)

    try:
        return asyncio.run(go())
    except BatchClientError as exc:
        raise click.ClickException(str(exc)) from None


@dataclass(frozen=True)
class Source:
    """A file to ingest: its path on disk, the name it is known by in the store, its digest."""

    path: Path
    name: str
    sha256: str

    @classmethod
    def of(cls, path: Path, root: Path | None) -> Source:
        name = str(path.relative_to(root)) if root is not None else str(path)
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return cls(path, name[-MAX_PATH_CHARS:], digest.hexdigest())


def sources(pattern: str) -> list[Source]:
    """The files of a directory (recursively, hidden ones left out) or of a glob (** works)."""
    root = Path(pattern)
    if root.is_dir():
        found = [p for p in sorted(root.rglob("*")) if p.is_file()
                 and not any(part.startswith(".") for part in p.relative_to(root).parts)]
        return [Source.of(p, root) for p in found]
    return [Source.of(Path(p), None) for p in sorted(glob.glob(pattern, recursive=True)) if Path(p).is_file()]


@click.group("kb")
def kb() -> None:
    """Knowledge bases: OpenAI vector stores on a running gateway.

    Every command needs the gateway's address (--url, $CORRAL_URL, default
    http://127.0.0.1:8080) and a key with the inference scope (--key, $CORRAL_API_KEY).
    A store is visible only to keys of the team that created it.

    \b
      corral kb ingest docs/ --store handbook
      corral kb search handbook "how do refunds work"
      corral kb reembed handbook --model text-embedding-3-small
    """


@dataclass
class Plan:
    """What an ingest does: files to upload, and files of the store they replace."""

    upload: list[Source]
    replaced: list[dict[str, Any]]
    unchanged: int


def plan(found: list[Source], present: list[dict[str, Any]]) -> Plan:
    """Files already in the store with the same name and digest are left alone; a changed
    file is uploaded again and its old version removed once the new one is in."""
    by_name = {f["attributes"].get("path"): f for f in present if isinstance(f.get("attributes"), dict)}
    upload, replaced, same = [], [], 0
    for source in found:
        old = by_name.get(source.name)
        if (old is not None and old["status"] == "completed"
                and old["attributes"].get("sha256") == source.sha256):
            same += 1
            continue
        upload.append(source)
        if old is not None:
            replaced.append(old)
    return Plan(upload, replaced, same)


async def _ingest(client: KnowledgeClient, pattern: str, found: list[Source], store_name: str, purpose: str,
                  interval: float) -> int:
    store = await client.find_store(store_name)
    if store is None:
        store = await client.create_store(store_name)
        click.echo(f"created vector store {store_name} ({store['id']})", err=True)
    todo = plan(found, await client.store_files(store["id"]))
    if todo.unchanged:
        click.echo(f"{todo.unchanged} files unchanged since the last ingest", err=True)
    if not todo.upload:
        click.echo(f"{store['id']}: nothing new in {pattern}", err=True)
        return 0
    files = []
    with click.progressbar(todo.upload, label="uploading", file=sys.stderr, show_pos=True) as bar:
        for source in bar:
            uploaded = await client.upload_document(source.path, purpose)
            attributes = {"path": source.name, "sha256": source.sha256}
            files.append({"file_id": uploaded["id"], "attributes": attributes})
    batches = [await client.create_file_batch(store["id"], files[i:i + BATCH_FILES])
               for i in range(0, len(files), BATCH_FILES)]
    batches = await _follow(client, store["id"], batches, interval)
    names = {f["file_id"]: f["attributes"]["path"] for f in files}
    failed = await _report(client, store["id"], batches, names)
    for old in todo.replaced:  # the new version is in (or failed, and says why): the old one goes
        await client.remove_file(store["id"], old["id"])
        await client.delete_upload(old["id"])
    done = sum(b["file_counts"]["completed"] for b in batches)
    click.echo(f"{store['id']} ({store_name}): {done} ingested, {failed} failed of {len(files)}")
    return failed


async def _follow(client: KnowledgeClient, store_id: str, batches: list[dict[str, Any]],
                  interval: float) -> list[dict[str, Any]]:
    """Poll the batches until no file is in progress, with a bar of files done (and failed)."""
    total = sum(b["file_counts"]["total"] for b in batches)

    def done(of: list[dict[str, Any]]) -> tuple[int, int]:
        counts = [b["file_counts"] for b in of]
        return sum(c["total"] - c["in_progress"] for c in counts), sum(c["failed"] for c in counts)

    with click.progressbar(length=total, label="ingesting", file=sys.stderr, show_pos=True, show_eta=True,
                           item_show_func=lambda n: None if n in (None, "0") else f"{n} failed") as bar:
        while True:
            finished, failed = done(batches)
            bar.update(max(0, finished - bar.pos), str(failed))
            if finished >= total:
                return batches
            await asyncio.sleep(interval)
            batches = [await client.file_batch(store_id, b["id"]) for b in batches]


async def _report(client: KnowledgeClient, store_id: str, batches: list[dict[str, Any]],
                  names: dict[str, str]) -> int:
    """Each failed file with its error, on stderr; how many failed."""
    failed = [f for b in batches if b["file_counts"]["failed"]
              for f in await client.batch_files(store_id, b["id"], "failed")]
    for f in failed:
        error = f.get("last_error") or {}
        click.echo(f"  failed: {names.get(f['id'], f['id'])}: {error.get('code')}: {error.get('message')}",
                   err=True)
    return len(failed)


@kb.command()
@click.argument("source", metavar="DIR_OR_GLOB")
@click.option("--store", "store_name", required=True, help="The store's name; created if it does not exist.")
@click.option("--purpose", type=click.Choice(["assistants", "user_data"]), default="assistants",
              show_default=True, help="The Files API purpose of the uploads.")
@click.option("--interval", default=0.5, show_default=True, type=click.FloatRange(0.05),
              help="Seconds between progress checks.")
@_connection
def ingest(source: str, store_name: str, purpose: str, interval: float, url: str, key: str | None) -> None:
    """Upload the files of DIR_OR_GLOB into a vector store and wait until they are searchable.

    A directory is read recursively (hidden files left out); a glob may use ** (quote it).
    Files already ingested unchanged are skipped; a changed file replaces its old version.
    Exits 1 when a file failed (each is listed with its error)."""
    found = sources(source)
    if not found:
        raise click.ClickException(f"No files match {source!r}: give a directory or a glob such as "
                                   "'docs/**/*.md'.")
    failed = _run(url, key, lambda client: _ingest(client, source, found, store_name, purpose, interval))
    if failed:
        raise click.exceptions.Exit(1)


async def _reembed(client: KnowledgeClient, store_ref: str, model: str, interval: float) -> int:
    """Re-embed the store and follow its files until none is in progress; how many failed."""
    found = await client.find_store(store_ref)
    if found is None:
        raise click.ClickException(f"No vector store named {store_ref!r} for your team; `corral kb list` "
                                   "shows them.")
    failed_before = {f["id"] for f in await client.store_files(found["id"], "failed")}
    store = await client.reembed(found["id"], model)
    total = store["file_counts"]["in_progress"]
    click.echo(f"re-embedding {store['id']} ({store['name']}) with {model}: {total} files", err=True)
    with click.progressbar(length=total, label="embedding", file=sys.stderr, show_pos=True,
                           show_eta=True) as bar:
        while True:
            finished = total - store["file_counts"]["in_progress"]
            bar.update(max(0, finished - bar.pos))
            if finished >= total:
                break
            await asyncio.sleep(interval)
            store = await client.store(store["id"])
    failed = [f for f in await client.store_files(store["id"], "failed") if f["id"] not in failed_before]
    for f in failed:
        error = f.get("last_error") or {}
        where = (f.get("attributes") or {}).get("path") or f["id"]
        click.echo(f"  failed: {where}: {error.get('code')}: {error.get('message')}", err=True)
    click.echo(f"{store['id']} ({store['name']}): {total - len(failed)} re-embedded with {model}, "
               f"{len(failed)} failed of {total}")
    return len(failed)


@kb.command()
@click.argument("store_ref", metavar="STORE")
@click.option("--model", required=True, help="The embeddings route to embed the store with from now on.")
@click.option("--interval", default=0.5, show_default=True, type=click.FloatRange(0.05),
              help="Seconds between progress checks.")
@_connection
def reembed(store_ref: str, model: str, interval: float, url: str, key: str | None) -> None:
    """Re-embed STORE (a name or vs_... id) with the embeddings route MODEL and wait until done.

    Its old vectors are dropped at once: until its files are re-embedded, searches answer from
    those done so far. Exits 1 when a file failed (each is listed with its error)."""
    if _run(url, key, lambda client: _reembed(client, store_ref, model, interval)):
        raise click.exceptions.Exit(1)


@kb.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one VectorStore object per line as JSON.")
@_connection
def list_stores(as_json: bool, url: str, key: str | None) -> None:
    """Your team's vector stores, newest first."""
    stores = _run(url, key, lambda client: client.stores())
    if as_json:
        for store in stores:
            click.echo(orjson.dumps(store).decode())
        return
    if not stores:
        click.echo("No vector stores. Make one: corral kb ingest DIR --store NAME")
        return
    counts = ("completed", "failed", "total")
    rows = [[s["id"], s["name"], s["status"], *(str(s["file_counts"][n]) for n in counts),
             str(s["usage_bytes"])] for s in stores]
    click.echo(text_table(["ID", "NAME", "STATUS", "READY", "FAILED", "FILES", "BYTES"], rows))


@kb.command()
@click.argument("store_ref", metavar="STORE")
@click.argument("query")
@click.option("-k", "--max-results", default=5, show_default=True, type=click.IntRange(1, 50))
@click.option("--threshold", default=0.0, show_default=True, type=click.FloatRange(0, 1),
              help="Leave out results scoring below this (0 to 1).")
@click.option("--filter", "-f", "filters", multiple=True, metavar="KEY=VALUE",
              help="Only files whose attribute KEY equals VALUE (repeat: all must hold).")
@click.option("--json", "as_json", is_flag=True, help="Print the search results page as JSON.")
@_connection
def search(store_ref: str, query: str, max_results: int, threshold: float, filters: tuple[str, ...],
           as_json: bool, url: str, key: str | None) -> None:
    """Search STORE (a name or vs_... id) for QUERY: the best passages, best first."""
    body: dict[str, Any] = {"query": query, "max_num_results": max_results,
                            "ranking_options": {"score_threshold": threshold}}
    conditions = [_condition(f) for f in filters]
    if conditions:
        body["filters"] = conditions[0] if len(conditions) == 1 else {"type": "and", "filters": conditions}

    async def work(client: KnowledgeClient) -> dict[str, Any]:
        store = await client.find_store(store_ref)
        if store is None:
            raise click.ClickException(f"No vector store named {store_ref!r} for your team; `corral kb list` "
                                       "shows them.")
        return await client.search(store["id"], body)

    page = _run(url, key, work)
    if as_json:
        click.echo(orjson.dumps(page, option=orjson.OPT_INDENT_2).decode())
        return
    if not page["data"]:
        click.echo("No results.")
    for result in page["data"]:
        where = (result.get("attributes") or {}).get("path") or result["filename"]
        text = " ".join(part["text"] for part in result["content"]).strip()
        click.echo(f"{result['score']:.3f}  {where}\n    {text[:400]}")


def _condition(pair: str) -> dict[str, Any]:
    name, sep, value = pair.partition("=")
    if not sep or not name:
        raise click.BadParameter(f"{pair!r} is not KEY=VALUE.", param_hint="--filter")
    return {"type": "eq", "key": name, "value": value}
