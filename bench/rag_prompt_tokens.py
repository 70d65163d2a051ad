"""What retrieval did to prompt size, read from a gateway's request records: for each recent
Responses request that ran `file_search` (its record's `extras.grounding`), the prompt it sent
(input tokens, of which the retrieved context) against the prompt it would have sent with
every document of the searched stores pasted in whole instead (the parsed text of their files,
o200k_base tokens). The searched stores are the `job_id`s of the query-embedding records the
grounding note names. Nothing is sent to any model.

Run: .venv/bin/python bench/rag_prompt_tokens.py [DATABASE_URL] [--limit N]
(default: the SQLite database of the default home, ./.corral)."""

from __future__ import annotations

import argparse
import asyncio
import statistics
from pathlib import Path
from typing import Any

from sqlalchemy import select

from corral.core.tokens import count_text
from corral.observe.queries import get, recent
from corral.store import Database, default_database_url
from corral.store.schema import vector_store_file_texts


async def store_tokens(db: Database, store_id: str, cache: dict[str, int]) -> int:
    """Tokens of a store's parsed documents, whole (what pasting them all would send)."""
    if store_id not in cache:
        rows = await db.fetch_all(select(vector_store_file_texts.c.text).where(
            vector_store_file_texts.c.store_id == store_id))
        cache[store_id] = sum(count_text(r["text"]) for r in rows)
    return cache[store_id]


async def grounded(db: Database, limit: int) -> list[dict[str, Any]]:
    """One row per grounded response: sent, context and whole-store prompt tokens."""
    cache: dict[str, int] = {}
    out: list[dict[str, Any]] = []
    for record in await recent(db, limit=limit):
        note = (record.get("extras") or {}).get("grounding")
        if not note or record["status"] == "error":
            continue
        stores = set()
        for search_id in note["search_request_ids"]:
            search = await get(db, search_id)
            if search is not None and (search.get("extras") or {}).get("job_id"):
                stores.add(search["extras"]["job_id"])
        whole = sum([await store_tokens(db, s, cache) for s in sorted(stores)])
        # The conversation and instructions (an upstream whose count is below our estimate: 0).
        rest = max(0, record["input_tokens"] - note["context_tokens"])
        out.append({"request_id": record["request_id"], "sent": record["input_tokens"],
                    "context": note["context_tokens"], "sources": note["sources"], "whole": rest + whole})
    return out


def report(rows: list[dict[str, Any]]) -> None:
    if not rows:
        print("no grounded responses in the recent records (send some with a file_search tool)")
        return
    print(f"{'request':<34} {'sent':>7} {'context':>8} {'sources':>7} {'whole docs':>10} {'ratio':>6}")
    for r in rows:
        ratio = r["sent"] / r["whole"] if r["whole"] else float("nan")
        print(f"{r['request_id'][:34]:<34} {r['sent']:>7} {r['context']:>8} {r['sources']:>7} "
              f"{r['whole']:>10} {ratio:>6.2f}")
    ratios = [r["sent"] / r["whole"] for r in rows if r["whole"]]
    if ratios:
        print(f"\n{len(rows)} grounded responses; prompt sent / whole documents: median "
              f"{statistics.median(ratios):.2f}, mean {statistics.fmean(ratios):.2f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database_url", nargs="?", default=default_database_url(Path(".corral")))
    parser.add_argument("--limit", type=int, default=500, help="recent records to read (all kinds)")
    args = parser.parse_args()
    db = await Database.connect(args.database_url)
    try:
        report(await grounded(db, args.limit))
    finally:
        await db.close()


if __name__ == "__main__":
    asyncio.run(main())
