"""`corral batch`: submit, follow, list, cancel and download batches on a running gateway.

Talks to the gateway's public API (`corral.batches.client`), with the key of the team
that owns the batches, so it works from any machine that reaches the gateway and shows
exactly what the team's own programs would see. Progress goes to stderr and results to
stdout, so `corral batch results ID > out.jsonl` stays clean.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
import orjson
from click._termui_impl import ProgressBar

from corral.batches.client import DEFAULT_URL, KEY_ENV, URL_ENV, BatchClient, BatchClientError, default_key
from corral.batches.types import ENDPOINTS, FINAL
from corral.core.text_table import text_table

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
FIRST_LINE_BYTES = 1024 * 1024  # enough for any batch line's url; the gateway checks the rest


def _connection(command: F) -> F:
    """--url and --key, on every subcommand (they read the same environment variables)."""
    command = click.option("--key", envvar=KEY_ENV, show_envvar=True, default=None,
                           help="API key with the inference scope (else $OPENAI_API_KEY, if it holds a "
                                "Corral key: sk-corral-...).")(command)
    return click.option("--url", envvar=URL_ENV, show_envvar=True, default=DEFAULT_URL, show_default=True,
                        help="The gateway's address.")(command)


def _run(url: str, key: str | None, work: Callable[[BatchClient], Awaitable[T]]) -> T:
    """Run `work` with a connected client; its errors become click errors (exit 1)."""
    async def go() -> T:
        async with BatchClient(url, key or default_key()) as client:
            return await work(client)

    try:
        return asyncio.run(go())
    except BatchClientError as exc:
        raise click.ClickException(str(exc)) from None


def _when(unix: int | None) -> str:
    return "-" if unix is None else datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _counts(batch: dict[str, Any]) -> tuple[int, int, int]:
    """(answered, failed, total) from OpenAI's request_counts."""
    counts = batch.get("request_counts") or {}
    return int(counts.get("completed", 0)), int(counts.get("failed", 0)), int(counts.get("total", 0))


def _endpoint_of(path: Path) -> str:
    """The first line's `url`, so a file of embeddings lines needs no --endpoint."""
    with path.open("rb") as handle:
        for line in iter(lambda: handle.readline(FIRST_LINE_BYTES), b""):
            if line.strip():
                try:
                    url = orjson.loads(line).get("url")
                except (orjson.JSONDecodeError, AttributeError):
                    break  # the gateway names the bad line when the file is uploaded
                return url if url in ENDPOINTS else ENDPOINTS[0]
    return ENDPOINTS[0]


def _metadata(pairs: tuple[str, ...]) -> dict[str, str] | None:
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE.", param_hint="--metadata")
        out[name] = value
    return out or None


def _failed_note(failed: str | None) -> str | None:
    return None if failed in (None, "0") else f"{failed} failed"


def _bar(label: str, total: int) -> ProgressBar[str]:
    """A bar of lines done (answered or failed) with click's ETA; rendered only on a terminal."""
    return click.progressbar(length=total, label=label, show_eta=True, show_pos=True,
                             item_show_func=_failed_note, file=sys.stderr)


async def _follow(client: BatchClient, batch: dict[str, Any], interval: float) -> dict[str, Any]:
    """Poll until the batch is final: its status while it is validated, then a progress bar
    (answered + failed of total, with click's ETA from the rate so far) on stderr."""
    seen = None
    while batch["status"] not in FINAL and not _counts(batch)[2]:
        if batch["status"] != seen:
            seen = batch["status"]
            click.echo(f"{batch['id']}: {seen}", err=True)
        await asyncio.sleep(interval)
        batch = await client.get(batch["id"])
    total = _counts(batch)[2]
    if batch["status"] in FINAL or not total:
        return batch
    with _bar(batch["id"], total) as bar:
        while True:
            answered, failed, _ = _counts(batch)
            bar.update(max(0, answered + failed - bar.pos), str(failed))
            if batch["status"] in FINAL:
                return batch
            await asyncio.sleep(interval)
            batch = await client.get(batch["id"])


def _outcome(batch: dict[str, Any], elapsed_s: float | None = None) -> None:
    """What happened and what to run next; exit 1 when the batch did not complete."""
    answered, failed, total = _counts(batch)
    took = "" if elapsed_s is None else f" in {elapsed_s:.1f} s"
    click.echo(f"{batch['id']} {batch['status']}: {answered} answered, {failed} failed of {total}{took}")
    if batch.get("output_file_id"):
        click.echo(f"  answers: corral batch results {batch['id']} -o output.jsonl")
    if batch.get("error_file_id"):
        click.echo(f"  errors:  corral batch results {batch['id']} --errors")
    for error in (batch.get("errors") or {}).get("data", [])[:10]:
        click.echo(f"  line {error.get('line')}: {error.get('code')}: {error.get('message')}")
    if batch["status"] != "completed":
        raise click.exceptions.Exit(1)


@click.group("batch")
def batch() -> None:
    """Submit and follow batches on a running gateway (OpenAI's Batch API).

    A batch is a JSONL file of requests, one per line ({"custom_id", "method": "POST",
    "url": "/v1/chat/completions", "body": {...}}). Corral runs every line through its
    usual routing, privacy and cost accounting, and writes an output file of answers and
    an error file of the lines that failed.

    Every command needs the gateway's address (--url, $CORRAL_URL, default
    http://127.0.0.1:8080) and a key with the inference scope (--key, $CORRAL_API_KEY).
    A batch is visible only to keys of the team that created it.

    \b
      corral batch submit requests.jsonl --wait
      corral batch results batch_... -o answers.jsonl
    """


@batch.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--endpoint", type=click.Choice(ENDPOINTS),
              help="The endpoint every line calls [default: the first line's url].")
@click.option("--metadata", "-m", multiple=True, metavar="KEY=VALUE",
              help="Label the batch (repeat for more; up to 16).")
@click.option("--wait", is_flag=True, help="Follow the batch with a progress bar until it finishes; "
                                           "exit 1 unless it completes.")
@click.option("--interval", default=1.0, show_default=True, type=click.FloatRange(0.05),
              help="Seconds between status checks with --wait.")
@_connection
def submit(file: Path, endpoint: str | None, metadata: tuple[str, ...], wait: bool, interval: float,
           url: str, key: str | None) -> None:
    """Upload FILE and start a batch on it.

    FILE is JSONL, one request per line. Prints the batch id on stdout (progress goes to
    stderr), so `id=$(corral batch submit requests.jsonl)` works in scripts."""
    labels = _metadata(metadata)
    endpoint = endpoint or _endpoint_of(file)
    started = time.monotonic()

    async def work(client: BatchClient) -> dict[str, Any]:
        uploaded = await client.upload(file)
        click.echo(f"uploaded {file.name} as {uploaded['id']} ({uploaded.get('bytes')} bytes)", err=True)
        created = await client.create(uploaded["id"], endpoint, labels)
        click.echo(created["id"])
        if not wait:
            click.echo(f"follow it: corral batch status {created['id']} --wait", err=True)
            return created
        try:
            return await _follow(client, created, interval)
        except asyncio.CancelledError:  # Ctrl-C: the batch runs on without us
            click.echo(f"\nstopped waiting; {created['id']} keeps running: corral batch status "
                       f"{created['id']} --wait", err=True)
            raise

    done = _run(url, key, work)
    if wait:
        _outcome(done, time.monotonic() - started)


@batch.command()
@click.argument("batch_id")
@click.option("--wait", is_flag=True, help="Follow it with a progress bar until it finishes; "
                                           "exit 1 unless it completes.")
@click.option("--interval", default=1.0, show_default=True, type=click.FloatRange(0.05),
              help="Seconds between status checks with --wait.")
@click.option("--json", "as_json", is_flag=True, help="Print OpenAI's Batch object as JSON.")
@_connection
def status(batch_id: str, wait: bool, interval: float, as_json: bool, url: str, key: str | None) -> None:
    """Show one batch: status, progress, files, usage and errors."""
    async def work(client: BatchClient) -> dict[str, Any]:
        found = await client.get(batch_id)
        return await _follow(client, found, interval) if wait else found

    found = _run(url, key, work)
    if as_json:
        click.echo(orjson.dumps(found, option=orjson.OPT_INDENT_2).decode())
        return
    answered, failed, total = _counts(found)
    usage = found.get("usage") or {}
    rows = [
        ("status", found["status"]),
        ("endpoint", found["endpoint"] + (f" (model {found['model']})" if found.get("model") else "")),
        ("requests", f"{answered} answered, {failed} failed of {total}"),
        ("created", _when(found.get("created_at"))),
        *((name.removesuffix("_at").replace("_", " "), _when(found[name])) for name in (
            "in_progress_at", "finalizing_at", "completed_at", "failed_at", "expired_at", "cancelled_at")
          if found.get(name)),
        ("expires", _when(found.get("expires_at"))),
        ("input file", found["input_file_id"]),
        ("output file", found.get("output_file_id") or "-"),
        ("error file", found.get("error_file_id") or "-"),
        ("tokens", f"{usage.get('input_tokens', 0)} in, {usage.get('output_tokens', 0)} out"
         if usage else "-"),
        ("metadata", ", ".join(f"{k}={v}" for k, v in (found.get("metadata") or {}).items()) or "-"),
    ]
    click.echo(found["id"])
    for name, value in rows:
        click.echo(f"  {name + ':':<13}{value}")
    for error in (found.get("errors") or {}).get("data", []):
        click.echo(f"  line {error.get('line')}: {error.get('code')}: {error.get('message')}")
    if wait:
        _outcome(found)


@batch.command("list")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 100),
              help="How many, newest first.")
@click.option("--after", metavar="BATCH_ID", help="Continue after this batch (the last one shown).")
@click.option("--json", "as_json", is_flag=True, help="Print one Batch object per line as JSON.")
@_connection
def list_batches(limit: int, after: str | None, as_json: bool, url: str, key: str | None) -> None:
    """Your team's batches, newest first."""
    page = _run(url, key, lambda client: client.list(limit, after))
    data = page.get("data") or []
    if as_json:
        for item in data:
            click.echo(orjson.dumps(item).decode())
        return
    if not data:
        click.echo("No batches." if after is None else f"No batches after {after}.")
        return
    rows = [[b["id"], b["status"], b["endpoint"], *(str(n) for n in _counts(b)), _when(b.get("created_at"))]
            for b in data]
    click.echo(text_table(["ID", "STATUS", "ENDPOINT", "ANSWERED", "FAILED", "TOTAL", "CREATED"], rows))
    if page.get("has_more"):
        click.echo(f"more: corral batch list --after {data[-1]['id']}", err=True)


@batch.command()
@click.argument("batch_id")
@_connection
def cancel(batch_id: str, url: str, key: str | None) -> None:
    """Cancel a validating or running batch.

    Queued lines stop at once, running ones at their worker's next heartbeat; the batch then
    ends `cancelled` with the answers it has (`corral batch results`)."""
    found = _run(url, key, lambda client: client.cancel(batch_id))
    answered, failed, total = _counts(found)
    click.echo(f"{found['id']} {found['status']}: {answered} answered, {failed} failed of {total}")


@batch.command()
@click.argument("batch_id")
@click.option("--errors", "errors_file", is_flag=True,
              help="The error file (lines that failed, expired or were cancelled) instead of the answers.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Write to this file instead of stdout.")
@_connection
def results(batch_id: str, errors_file: bool, output: Path | None, url: str, key: str | None) -> None:
    """Download a finished batch's answers (or its errors).

    The output file has one JSON line per answered request, in input order, with the
    line's custom_id; the error file (--errors) has every other line and why."""
    which = "error_file_id" if errors_file else "output_file_id"

    async def work(client: BatchClient) -> int:
        found = await client.get(batch_id)
        file_id = found.get(which)
        if file_id is None:
            raise click.ClickException(_no_file(found, errors_file))
        return await _download(client.content(file_id), output)

    size = _run(url, key, work)
    if output is not None:
        click.echo(f"wrote {size} bytes to {output}", err=True)


def _no_file(found: dict[str, Any], errors_file: bool) -> str:
    """Why a batch has no such file yet, and what to run instead."""
    if found["status"] not in FINAL:
        answered, failed, total = _counts(found)
        return (f"Batch {found['id']} is {found['status']} ({answered + failed} of {total} done); its files "
                f"are written when it finishes. Wait for it: corral batch status {found['id']} --wait")
    if errors_file:
        return f"Batch {found['id']} has no error file: no line failed."
    return (f"Batch {found['id']} ({found['status']}) has no output file: no line was answered. "
            f"See `corral batch status {found['id']}` and --errors.")


async def _download(chunks: Any, output: Path | None) -> int:
    """Copy the chunks to `output` (through a .part file, so a cut-off download leaves
    nothing that looks whole) or to stdout; the byte count."""
    size = 0
    if output is None:
        stdout = sys.stdout.buffer
        async for chunk in chunks:
            stdout.write(chunk)
            size += len(chunk)
        stdout.flush()
        return size
    part = output.with_name(output.name + ".part")
    try:
        with part.open("wb") as handle:
            async for chunk in chunks:
                handle.write(chunk)
                size += len(chunk)
        part.replace(output)
    finally:
        part.unlink(missing_ok=True)
    return size
