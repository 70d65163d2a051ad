"""Prompt tokens of a grounded answer against stuffing the documents into the prompt (same run).

    .venv/bin/python bench/rag_prompt_savings.py [--questions 473] [--results 10 5]

The seed's case study says RAG cut cost 60% by shortening prompts; this measures Corral's
figure on the SQuAD 2.0 subset in ../shared/data/rag/ (5 Wikipedia articles, 473 questions;
CC BY-SA 4.0). One `corral serve` (SQLite, default settings, the built-in embedding model)
holds the five articles as files of one vector store. Each question is asked three ways
through the official openai SDK's Responses API:

- grounded: `tools: [file_search]` with `max_num_results` N (each N given): Corral retrieves
  and sends the rules plus the N best chunks;
- stuffed, all: the prototype's pattern: every article in `instructions`, then the question;
- stuffed, one article: only the article that answers it (an oracle no prototype has: the
  cheapest stuffing can be).

The upstream is a stub in this script (an OpenAI-compatible endpoint that answers one word)
which counts the prompt it receives with o200k_base, as the OpenAI models do: that count is
the measured figure, identical for all arms. Also reported: how often the grounded prompt
contains an answer to the question (one of SQuAD's answer strings in a retrieved chunk), so a
short prompt that lost the answer is not counted as a saving.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import openai
from aiohttp import web
from batch_rig import Rig
from gateway_overhead import free_port

from corral.config import LOCAL_EMBED_MODEL_NAME as EMBED
from corral.core.tokens import count_text

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "rag"
MODEL = "bench"
PER_MESSAGE = 3  # OpenAI's chat format overhead per message, as corral.core.tokens counts it


def articles() -> dict[str, str]:
    """Each article's paragraphs, in order, as one document, by the article's id (the part of a
    paragraph id before '#', which the questions' paragraph_id starts with too)."""
    paragraphs: dict[str, list[str]] = defaultdict(list)
    titles: dict[str, str] = {}
    for p in json.loads((DATA / "squad2_subset_corpus.json").read_text()):
        article = p["id"].split("#")[0]
        paragraphs[article].append(p["text"])
        titles[article] = p["title"]
    return {a: f"# {titles[a]}\n\n" + "\n\n".join(ps) for a, ps in paragraphs.items()}


async def upstream() -> tuple[web.AppRunner, str, list[int]]:
    """The stub model: counts each prompt (o200k_base), answers one word."""
    seen: list[int] = []

    async def chat(request: web.Request) -> web.Response:
        body = await request.json()
        tokens = sum(PER_MESSAGE + count_text(_text(m.get("content"))) for m in body["messages"]) + 3
        seen.append(tokens)
        return web.json_response({
            "id": "chatcmpl-stub", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "Answer."}}],
            "usage": {"prompt_tokens": tokens, "completion_tokens": 2, "total_tokens": tokens + 2}})

    app = web.Application(client_max_size=64 * 2**20)
    app.router.add_post("/v1/chat/completions", chat)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}/v1", seen


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return " ".join(part.get("text", "") for part in content or [] if isinstance(part, dict))


async def build_store(client: openai.AsyncOpenAI, docs: dict[str, str]) -> str:
    store = await client.vector_stores.create(name="squad-articles")
    ids = [(await client.files.create(file=(f"{name}.md", io.BytesIO(text.encode())),
                                      purpose="assistants")).id for name, text in docs.items()]
    batch = await client.vector_stores.file_batches.create_and_poll(
        vector_store_id=store.id, file_ids=ids, poll_interval_ms=200)
    if batch.file_counts.completed != len(docs):
        raise RuntimeError(f"ingestion did not complete: {batch}")
    return store.id


async def ask(client: openai.AsyncOpenAI, question: dict[str, Any], docs: dict[str, str], store_id: str,
              results: list[int]) -> dict[str, Any]:
    title = question["paragraph_id"].split("#")[0]
    q = question["question"]
    row: dict[str, Any] = {}
    for n in results:
        made = await client.responses.create(
            model=MODEL, input=q, include=["file_search_call.results"],
            tools=[{"type": "file_search", "vector_store_ids": [store_id], "max_num_results": n}])
        call = made.output[0]
        texts = " ".join(r.text or "" for r in (getattr(call, "results", None) or []))
        row[f"grounded_{n}"] = made.usage.input_tokens if made.usage else 0
        row[f"answer_in_context_{n}"] = any(a.lower() in texts.lower() for a in question["answers"])
    every = "\n\n".join(docs.values())
    for arm, text in (("stuffed_all", every), ("stuffed_article", docs[title])):
        made = await client.responses.create(
            model=MODEL, input=q, instructions=f"Answer from these documents.\n\n{text}")
        row[arm] = made.usage.input_tokens if made.usage else 0
    return row


def summary(rows: list[dict[str, Any]], results: list[int]) -> dict[str, Any]:
    def med(key: str) -> float:
        return float(statistics.median(r[key] for r in rows))

    out: dict[str, Any] = {"questions": len(rows),
                           "prompt_tokens_median": {"stuffed_all": med("stuffed_all"),
                                                    "stuffed_article": med("stuffed_article")}}
    for n in results:
        g = f"grounded_{n}"
        out["prompt_tokens_median"][g] = med(g)
        out[f"grounded_{n}_vs_stuffed_all"] = round(
            sum(r[g] for r in rows) / sum(r["stuffed_all"] for r in rows), 4)
        out[f"grounded_{n}_vs_stuffed_article"] = round(
            sum(r[g] for r in rows) / sum(r["stuffed_article"] for r in rows), 4)
        out[f"answer_in_grounded_context_{n}"] = round(
            sum(r[f"answer_in_context_{n}"] for r in rows) / len(rows), 4)
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=473)
    parser.add_argument("--results", type=int, nargs="+", default=[10, 5], help="max_num_results to try")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    docs = articles()
    questions = json.loads((DATA / "squad2_subset_dev_questions.json").read_text())[:args.questions]
    runner, stub_url, _ = await upstream()
    rig = Rig(Path(tempfile.mkdtemp(prefix="rag-savings-")))
    try:
        config = rig.home / "corral.yaml"
        config.write_text(json.dumps({
            "home": str(rig.home), "database_url": f"sqlite:///{rig.home / 'corral.db'}",
            "providers": {"stub": {"type": "openai", "base_url": stub_url, "api_key_env": "SIM_KEY"},
                          "local-embed": {"type": "local-embed"}},
            "models": {MODEL: {"deployments": [{"provider": "stub", "model": MODEL,
                                                "context_window": 128000}]},
                       EMBED: {"deployments": [{"provider": "local-embed", "model": EMBED}]}},
            "jobs": {"poll_interval_s": 0.1}}))
        url, key = await rig.gateway(config)
        client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=120)
        store_id = await build_store(client, docs)
        gate = asyncio.Semaphore(args.concurrency)

        async def one(q: dict[str, Any]) -> dict[str, Any]:
            async with gate:
                return await ask(client, q, docs, store_id, args.results)

        rows = await asyncio.gather(*(one(q) for q in questions))
        report = {"documents": len(docs), "document_tokens": {t: count_text(d) for t, d in docs.items()},
                  **summary(list(rows), args.results)}
        print(json.dumps(report, indent=2))
    finally:
        rig.stop()
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
