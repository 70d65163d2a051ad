"""Native batches' parts alone: chunking in the plan, the answer's check of what was sent,
and the batch price."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from corral.batches.native.chunks import SUBMIT, NativePlanner
from corral.batches.native.sinks import Answer, Collector, digest
from corral.batches.settings import BatchSettings
from corral.batches.types import Batch, Submitter
from corral.core.deferred import DeferredMismatch, NativeLine, NativeRequest, RequestDeferred
from corral.cost.pricing import Pricer
from corral.cost.settings import PricingSettings
from corral.files.batch_lines import BatchLine
from corral.observe.record import RequestRecord
from corral.store.schema import utcnow

ONE = {"input_per_mtok": 1, "output_per_mtok": 1}


def _batch(endpoint: str = "/v1/chat/completions") -> Batch:
    now = utcnow()
    who = Submitter("key_1", "app", "team-a", ("inference",))
    return Batch(id="batch_p", submitter=who, endpoint=endpoint, input_file_id="file-1",
                 completion_window="24h", status="validating", created_at=now,
                 expires_at=now + timedelta(days=1))


def _line(n: int, model: str) -> BatchLine:
    return BatchLine(n, f"c{n}", "POST", "/v1/chat/completions", {"model": model, "messages": []})


def test_the_plan_keeps_native_routes_lines_in_chunks_per_route() -> None:
    routes = {"a": "route-a", "alias-a": "route-a", "b": "route-b", "live": "route-live"}
    planner = NativePlanner(_batch(), {"route-a", "route-b"}, routes.get, BatchSettings(native_chunk_lines=2))
    kept = [planner.add(_line(n, model)) for n, model in enumerate(["a", "live", "alias-a", "b", "a"], 1)]
    assert kept == [True, False, True, True, True], "a line of a route run by Corral stays an ordinary item"
    [full] = planner.ready()
    assert (full.kind, full.payload["route"], full.payload["lines"]) == (SUBMIT, "route-a", [1, 3])
    rest = planner.rest()
    assert [(j.payload["route"], j.payload["lines"]) for j in rest] == [("route-b", [4]), ("route-a", [5])]
    assert [j.id for j in [full, *rest]] == [f"batch_p-native-000{i}" for i in range(3)]
    responses = NativePlanner(_batch("/v1/responses"), {"route-a"}, routes.get, BatchSettings())
    assert not responses.add(_line(1, "a")), "a /v1/responses batch keeps Corral's own run"


async def test_collecting_takes_the_body_and_answering_checks_it_is_what_was_sent() -> None:
    collector = Collector({"sim/m"})
    body = {"model": "m", "messages": [{"role": "user", "content": "[EMAIL_1]"}]}
    sent = NativeRequest("/v1/chat/completions", body)
    call = collector.call(7)
    assert call.takes("sim/m") and not call.takes("other/m") and call.pinned is None
    with pytest.raises(RequestDeferred):
        await call.send("sim/m", sent)
    assert collector.by_deployment() == {"sim/m": [(7, sent)]}
    line = NativeLine(200, {"ok": True}, "batch_up")
    answer = Answer("sim/m", digest(sent), line)
    assert answer.pinned == "sim/m" and await answer.send("sim/m", sent) is line
    changed = NativeRequest(sent.url, {**body, "messages": [{"role": "user", "content": "[PERSON_1]"}]})
    with pytest.raises(DeferredMismatch, match="cannot be restored safely"):
        await answer.send("sim/m", changed)


def _record(provider_type: str, **extras: Any) -> RequestRecord:
    return RequestRecord(request_id="req_1", created_at=1.8e9, key_id=None, team=None, end_user=None,
                         route="m", requested_model="m", served_model="gpt-4o-mini",
                         deployment="sim/gpt-4o-mini", provider_type=provider_type, status="ok",
                         http_status=200, error_type=None, stream=False, input_tokens=1_000_000,
                         output_tokens=1_000_000, extras=extras)


def test_a_natively_batched_request_costs_the_batch_share_of_the_price() -> None:
    pricer = Pricer.from_settings(PricingSettings())
    assert pricer.cost_of(_record("openai"))[0] == pytest.approx(0.75)  # gpt-4o-mini: 0.15 + 0.60
    assert pricer.cost_of(_record("openai", native_batch="batch_up"))[0] == pytest.approx(0.375)
    configured = Pricer.from_settings(PricingSettings.model_validate({
        "batch_price_factor": {"openai": "0.4", "openai-compatible": "0.5"},
        "models": {"gpt-4o-mini": {**ONE, "provider_types": ["openai-compatible"]}}}))
    assert configured.cost_of(_record("openai", native_batch="b"))[0] == pytest.approx(0.3)
    assert configured.cost_of(_record("openai-compatible", native_batch="b"))[0] == pytest.approx(1.0)
    unconfigured = Pricer.from_settings(PricingSettings.model_validate({
        "models": {"gpt-4o-mini": {**ONE, "provider_types": ["vllm"]}}}))
    assert unconfigured.cost_of(_record("vllm", native_batch="b"))[0] == pytest.approx(2.0), "no batch price"
