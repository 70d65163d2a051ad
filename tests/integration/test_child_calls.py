"""Calls Corral makes on a request's behalf belong to its record (issue 9): a summarizer call's
attempts, tokens and cost appear in the parent request's record."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from corral.api.app import create_app
from tests.conftest import serve_in_thread, settings_for
from tests.integration.records import stored_records

IN_PRICE, OUT_PRICE = 1.0, 2.0  # USD per million tokens of the fake model


def _conversation() -> list[dict[str, str]]:
    messages = [{"role": "system", "content": "You are helpful."}]
    for i in range(10):
        messages.append({"role": "user", "content": f"question {i} " + "lorem ipsum " * 40})
        messages.append({"role": "assistant", "content": f"answer {i} " + "dolor sit " * 40})
    return [*messages, {"role": "user", "content": "And the last question?"}]


@pytest.mark.asyncio
async def test_a_summarizer_calls_cost_is_in_its_parents_record(tmp_path: Path) -> None:
    fake = {"provider": "fake", "model": "echo"}
    settings = settings_for(
        tmp_path, {"fake": {"type": "fake"}},
        {"small": {"deployments": [{**fake, "context_window": 800}],
                   "context": {"policy": "summarize", "reserve_output_tokens": 100,
                               "summarize_model": "summarizer"}},
         "summarizer": {"deployments": [{"provider": "fake", "model": "brief", "context_window": 100_000}]}},
        pricing={"models": {"echo": {"input_per_mtok": IN_PRICE, "output_per_mtok": OUT_PRICE},
                            "brief": {"input_per_mtok": 2 * IN_PRICE, "output_per_mtok": 2 * OUT_PRICE}}},
    )
    for server in serve_in_thread(create_app(settings, warmup=False)):
        async with aiohttp.ClientSession() as s, s.post(
            server.url + "/v1/chat/completions", json={"model": "small", "messages": _conversation()},
            headers={"authorization": f"Bearer {server.app_key}"},
        ) as r:
            assert r.status == 200 and r.headers["x-corral-context"] == "summarized"
            request_id = r.headers["x-request-id"]
    rows = await stored_records(settings.home, lambda row: row["request_id"] == request_id)
    [record] = rows
    children = record["extras"]["children"]
    assert children and all(c["request_id"].startswith(request_id + ":sum") for c in children)
    assert len(record["attempts"]) == 1 + len(children), "every upstream call made for the request"
    own = (record["input_tokens"] * IN_PRICE + record["output_tokens"] * OUT_PRICE) / 1e6
    spent = sum(c["cost_usd"] for c in children)
    assert spent > 0 and record["cost_usd"] == pytest.approx(own + spent, rel=1e-6)
    assert all(c["input_tokens"] > 0 and c["model"] == "brief" for c in children)
    brief = sum(c["input_tokens"] * 2 * IN_PRICE + c["output_tokens"] * 2 * OUT_PRICE for c in children) / 1e6
    assert spent == pytest.approx(brief), "each child priced at its own model's price"
