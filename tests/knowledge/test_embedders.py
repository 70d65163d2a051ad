"""GatewayEmbedder: knowledge-base embeddings are ordinary recorded requests of a route."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from corral.config import LOCAL_EMBED_MODEL_NAME, Settings, default_settings_data
from corral.core.context import Caller
from corral.core.errors import ModelNotFound
from corral.gateway import Gateway
from corral.knowledge.embedders import GatewayEmbedder
from corral.observe.queries import recent
from tests.conftest import settings_for
from tests.fakes import FakeProvider

CALLER = Caller("key_kb", "ingest", "team-kb", frozenset({"inference"}))


async def _records(gateway: Gateway) -> list[dict[str, Any]]:
    await gateway.recorder.sink.flush()
    return list(reversed(await recent(gateway.db, limit=50)))


@pytest.fixture
async def default_gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    """The configuration a fresh install runs: the built-in embedding route is in it."""
    settings = Settings.model_validate({**default_settings_data(), "home": str(tmp_path / "home")})
    gw = await Gateway.start(settings, warmup=False, run_jobs=False)
    try:
        yield gw
    finally:
        await gw.stop()


@pytest.fixture
async def fake_gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    settings = settings_for(tmp_path, {"fake": {"type": "fake"}},
                            {"emb": {"deployments": [{"provider": "fake", "model": "embed"}]}})
    gw = await Gateway.start(settings, warmup=False, run_jobs=False)
    try:
        yield gw
    finally:
        await gw.stop()


async def test_the_default_configuration_embeds_offline_recorded_and_priced_at_zero(
    default_gateway: Gateway,
) -> None:
    embedder = GatewayEmbedder(default_gateway, LOCAL_EMBED_MODEL_NAME, CALLER, dimensions=384,
                               job_id="ingest_1", batch_size=2)
    texts = ["Normandy is a region in France.", "Where is Normandy?", "Complexity theory.", "P versus NP"]
    vectors = await embedder.embed(texts)
    assert len(vectors) == 4 and all(len(v) == 384 for v in vectors)
    v = np.array(vectors)
    assert v[1] @ v[0] > v[1] @ v[2], "the question sits nearest its passage"
    rows = [r for r in await _records(default_gateway) if r["operation"] == "embeddings"]
    assert len(rows) == 2, "one request per batch of 2"
    for row in rows:
        assert (row["route"], row["team"], row["key_id"], row["status"]) == (
            LOCAL_EMBED_MODEL_NAME, "team-kb", "key_kb", "ok")
        assert row["input_tokens"] > 0 and row["priced"] and row["cost_usd"] == 0
        assert row["extras"]["job_id"] == "ingest_1"


async def test_batches_keep_order_and_every_batch_is_one_request(fake_gateway: Gateway) -> None:
    FakeProvider.embedded.clear()
    embedder = GatewayEmbedder(fake_gateway, "emb", CALLER, dimensions=2, batch_size=3)
    texts = ["a", "bb", "ccc", "dddd", "eeeee", "ffffff", "g"]
    vectors = await embedder.embed(texts)
    assert [v[0] for v in vectors] == [float(len(t)) for t in texts]  # the fake's vector: [len, 1]
    assert [r.inputs for r in FakeProvider.embedded] == [texts[:3], texts[3:6], texts[6:]]
    assert await embedder.embed([]) == []
    assert (embedder.name, embedder.dimensions) == ("emb", 2)
    rows = await _records(fake_gateway)
    assert len({r["request_id"] for r in rows}) == 3 and all(r["extras"].get("job_id") is None for r in rows)


async def test_a_route_with_other_dimensions_or_no_route_is_an_error(fake_gateway: Gateway) -> None:
    with pytest.raises(ValueError, match="re-embed"):
        await GatewayEmbedder(fake_gateway, "emb", CALLER, dimensions=384).embed(["x"])
    with pytest.raises(ModelNotFound):
        await GatewayEmbedder(fake_gateway, "no-such-route", CALLER, dimensions=2).embed(["x"])
    with pytest.raises(ValueError, match="batch_size"):
        GatewayEmbedder(fake_gateway, "emb", CALLER, dimensions=2, batch_size=0)


async def test_an_attributed_embedder_names_its_requests_after_the_request_it_serves(
    fake_gateway: Gateway,
) -> None:
    ids = iter(["req_abc:fs1", "req_abc:fs2"])
    base = GatewayEmbedder(fake_gateway, "emb", CALLER, dimensions=2, job_id="vs_1", batch_size=1)
    attributed = base.attributed(lambda: next(ids))
    assert len(await attributed.embed(["how long", "do refunds take"])) == 2
    rows = await _records(fake_gateway)
    assert [(r["request_id"], r["extras"]["job_id"]) for r in rows] == [("req_abc:fs1", "vs_1"),
                                                                         ("req_abc:fs2", "vs_1")]
    assert base.request_ids is None and attributed.dimensions == 2
