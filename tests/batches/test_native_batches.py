"""Routes with `batch: native`: lines forwarded to the provider's own batch API (the
simulator's /v1/files and /v1/batches), through the official openai SDK against Corral.

Every line is still an ordinary request: redacted before the provider sees it, restored in
Corral's output, recorded with the batch's id and priced at the batch price.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest
import yaml

from corral.api.app import create_app
from corral.config import ConfigError, load_settings
from corral.routing.table import RouteTable
from corral.simulator import FaultSchedule, SimulatorThread
from tests.batches.gateway import batch_records
from tests.conftest import RunningServer, database_on, serve_in_thread, settings_for

EMAIL = "jane.doe@example.com"
FINAL = ("completed", "failed", "expired", "cancelled")
# gpt-4o-mini's catalog price (USD per 1M tokens): input 0.15, output 0.6; batches pay half.
INPUT, OUTPUT = Decimal("0.15"), Decimal("0.6")
NO_KEY = "CORRAL_TEST_NO_KEY"  # unset: the simulator checks no key


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorThread]:
    with SimulatorThread() as simulator:
        rules = FaultSchedule.parse([{"fault": "content_policy", "model": "refused-model"}]).rules
        simulator.state.schedule.replace(rules)
        yield simulator


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, sim: SimulatorThread,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp(f"native-batches-{request.param}")
    native = {"batch": "native", "privacy": {"policy": "redact"}}
    with database_on(request.param, tmp) as url:
        settings = settings_for(
            Path(tmp), {"sim": {"type": "openai", "base_url": sim.url + "/v1", "api_key_env": NO_KEY},
                        "claude": {"type": "anthropic", "base_url": sim.url, "api_key_env": NO_KEY}},
            {"gpt-4o-mini": {"deployments": [{"provider": "sim", "model": "gpt-4o-mini"}], **native},
             "refused": {"deployments": [{"provider": "sim", "model": "refused-model"}], **native},
             "claude": {"deployments": [{"provider": "claude", "model": "claude-opus-4-6"}], **native},
             "claude-refused": {"deployments": [{"provider": "claude", "model": "refused-model"}], **native},
             "embed": {"deployments": [{"provider": "sim", "model": "text-embedding-3-small"}],
                       "batch": "native"},
             "guarded": {"deployments": [{"provider": "sim", "model": "gpt-4o-mini"}], "batch": "native",
                         "privacy": {"policy": "block"}}},
            database_url=url, jobs={"poll_interval_s": 0.05, "concurrency": 4},
            batches={"check_interval_s": 0.1, "native_poll_interval_s": 0.1, "native_chunk_lines": 4},
        )
        yield from serve_in_thread(create_app(settings, warmup=False))


@pytest.fixture(autouse=True)
def _sim_defaults(sim: SimulatorThread) -> Iterator[None]:
    yield
    sim.state.batches.outcome, sim.state.batches.expire_after = "completed", 0
    sim.state.settings.batch_delay_ms = 0


def _client(server: RunningServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=server.app_key, max_retries=0)


def _line(custom_id: str, text: str, model: str = "gpt-4o-mini") -> dict[str, Any]:
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": model, "messages": [{"role": "user", "content": text}]}}


def _submit(client: openai.OpenAI, lines: list[dict[str, Any]]) -> Any:
    data = io.BytesIO(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    uploaded = client.files.create(file=("in.jsonl", data), purpose="batch")
    return client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                                 completion_window="24h")


def _wait(client: openai.OpenAI, batch_id: str, timeout_s: float = 20) -> Any:
    deadline = time.monotonic() + timeout_s
    while (batch := client.batches.retrieve(batch_id)).status not in FINAL and time.monotonic() < deadline:
        time.sleep(0.05)
    return batch


def _read(client: openai.OpenAI, file_id: str | None) -> list[dict[str, Any]]:
    if file_id is None:
        return []
    return [orjson.loads(line) for line in client.files.content(file_id).read().splitlines()]


def test_a_forwarded_batch_answers_every_line_once_redacted_upstream_restored_and_at_the_batch_price(
        server: RunningServer, sim: SimulatorThread) -> None:
    client = _client(server)
    created = sim.state.batches.created
    lines = [_line(f"q-{i}", f"question number {i} please") for i in range(6)]
    lines[2] = _line("q-2", f"{EMAIL} wrote to us")  # the simulator's answer repeats the first words
    lines.append(_line("blocked", f"mail {EMAIL}", model="guarded"))  # refused before any upstream call
    batch = _wait(client, _submit(client, lines).id)
    assert batch.status == "completed", batch
    assert (batch.request_counts.completed, batch.request_counts.failed) == (6, 1)
    assert sim.state.batches.created == created + 2, "six lines in chunks of four: two provider batches"

    sent = sim.state.batches.inputs[-6:]
    assert not any(EMAIL in orjson.dumps(line).decode() for line in sim.state.batches.inputs)
    assert "[EMAIL_1] wrote to us" in orjson.dumps(sent).decode(), "the provider saw the placeholder"
    output = _read(client, batch.output_file_id)
    assert sorted(o["custom_id"] for o in output) == [f"q-{i}" for i in range(6)], "each line exactly once"
    answer = next(o for o in output if o["custom_id"] == "q-2")["response"]["body"]
    text = answer["choices"][0]["message"]["content"]
    assert text.startswith(f"{EMAIL} wrote to"), "restored for the client"
    [blocked] = _read(client, batch.error_file_id)
    assert blocked["custom_id"] == "blocked"
    assert blocked["response"]["body"]["error"]["code"] == "pii_detected"
    assert {line["custom_id"] for line in sent} == {o["response"]["request_id"] for o in output}

    records = batch_records(server.gateway.db.url, batch.id, 7)
    answered = [r for r in records if r["extras"].get("native_batch")]
    assert len(answered) == 6 and len({r["request_id"] for r in records}) == 7
    for record in answered:
        assert record["client_request_id"].startswith("q-") and record["extras"]["job_id"] == batch.id
        standard = (record["input_tokens"] * INPUT + record["output_tokens"] * OUTPUT) / 1_000_000
        assert Decimal(str(record["cost_usd"])) == (standard / 2).quantize(Decimal("0.00000001"))
    assert not any(EMAIL in str(r) for r in records)


def test_an_embeddings_batch_is_forwarded_too(server: RunningServer, sim: SimulatorThread) -> None:
    client = _client(server)
    lines = [{"custom_id": f"e{i}", "method": "POST", "url": "/v1/embeddings",
              "body": {"model": "embed", "input": [f"text {i}", "more"]}} for i in range(3)]
    data = io.BytesIO(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    uploaded = client.files.create(file=("in.jsonl", data), purpose="batch")
    batch = _wait(client, client.batches.create(input_file_id=uploaded.id, endpoint="/v1/embeddings",
                                                completion_window="24h").id)
    assert batch.status == "completed" and batch.error_file_id is None
    output = _read(client, batch.output_file_id)
    assert [o["custom_id"] for o in output] == ["e0", "e1", "e2"]
    assert all(len(o["response"]["body"]["data"]) == 2 for o in output)
    assert sim.state.batches.inputs[-1]["url"] == "/v1/embeddings"
    records = batch_records(server.gateway.db.url, batch.id, 3)
    assert all(r["extras"].get("native_batch") and r["operation"] == "embeddings" for r in records)


def test_an_anthropic_route_forwards_to_message_batches(server: RunningServer, sim: SimulatorThread) -> None:
    client = _client(server)
    created = sim.state.batches.created
    lines = [_line("m-0", f"{EMAIL} asked again", model="claude"), _line("m-1", "plain", model="claude")]
    batch = _wait(client, _submit(client, lines).id)
    assert batch.status == "completed" and batch.error_file_id is None
    assert sim.state.batches.created == created + 1
    sent = sim.state.batches.inputs[-2:]
    assert [s["params"]["model"] for s in sent] == ["claude-opus-4-6"] * 2, "Message Batches requests, inline"
    assert EMAIL not in orjson.dumps(sent).decode() and "[EMAIL_1]" in orjson.dumps(sent).decode()
    output = {o["custom_id"]: o["response"]["body"] for o in _read(client, batch.output_file_id)}
    assert output["m-0"]["choices"][0]["message"]["content"].startswith(f"{EMAIL} asked again")
    for record in batch_records(server.gateway.db.url, batch.id, 2):
        assert record["extras"]["native_batch"].startswith("msgbatch_")
        standard = (record["input_tokens"] * 5 + record["output_tokens"] * 25) / Decimal(1_000_000)
        assert Decimal(str(record["cost_usd"])) == (standard / 2).quantize(Decimal("0.00000001"))


def test_anthropic_errored_and_expired_results_end_in_the_error_file(
        server: RunningServer, sim: SimulatorThread) -> None:
    client = _client(server)
    sim.state.batches.outcome, sim.state.batches.expire_after = "expired", 1  # per provider batch
    lines = [_line("r", "hello", model="claude-refused"), _line("a", "one", model="claude"),
             _line("b", "two", model="claude")]
    batch = _wait(client, _submit(client, lines).id)
    assert [o["custom_id"] for o in _read(client, batch.output_file_id)] == ["a"]
    errors = {e["custom_id"]: e for e in _read(client, batch.error_file_id)}
    refused = errors["r"]["response"]
    assert refused["status_code"] == 400 and "content filtering" in refused["body"]["error"]["message"]
    assert errors["b"]["response"] is None and errors["b"]["error"]["code"] == "batch_expired"


def test_provider_errors_and_expired_lines_end_in_the_error_file_with_their_reasons(
        server: RunningServer, sim: SimulatorThread) -> None:
    client = _client(server)
    sim.state.batches.outcome, sim.state.batches.expire_after = "expired", 1  # per provider batch
    lines = [_line("refused", "hello there", model="refused"), _line("a", "first one"), _line("b", "second"),
             _line("c", "third")]
    batch = _wait(client, _submit(client, lines).id)
    assert batch.status == "completed"
    errors = {e["custom_id"]: e for e in _read(client, batch.error_file_id)}
    assert [o["custom_id"] for o in _read(client, batch.output_file_id)] == ["a"]
    assert errors["refused"]["response"]["body"]["error"]["code"] == "content_policy_violation"
    for custom_id in ("b", "c"):
        assert errors[custom_id]["response"] is None
        assert errors[custom_id]["error"]["code"] == "batch_expired"
        assert "expired" in errors[custom_id]["error"]["message"]


def test_a_provider_batch_that_fails_fails_its_lines_with_the_providers_reason(
        server: RunningServer, sim: SimulatorThread) -> None:
    client = _client(server)
    sim.state.batches.outcome = "failed"
    batch = _wait(client, _submit(client, [_line("x", "one"), _line("y", "two")]).id)
    errors = _read(client, batch.error_file_id)
    assert batch.output_file_id is None and [e["custom_id"] for e in errors] == ["x", "y"]
    assert all(e["error"]["code"] == "native_batch_failed" and "simulated" in e["error"]["message"]
               for e in errors)


def test_cancelling_a_batch_cancels_the_providers_batch(server: RunningServer, sim: SimulatorThread) -> None:
    client = _client(server)
    sim.state.settings.batch_delay_ms = 60_000  # the provider would take a minute
    before = set(sim.state.batches.batches)
    batch = _submit(client, [_line("slow-1", "one"), _line("slow-2", "two")])
    deadline = time.monotonic() + 10
    while not set(sim.state.batches.batches) - before and time.monotonic() < deadline:
        time.sleep(0.05)
    [native_id] = set(sim.state.batches.batches) - before
    client.batches.cancel(batch.id)
    done = _wait(client, batch.id)
    assert done.status == "cancelled"
    assert sim.state.batches.batches[native_id]["status"] == "cancelled"
    errors = _read(client, done.error_file_id)
    assert sorted(e["custom_id"] for e in errors) == ["slow-1", "slow-2"]
    assert all(e["error"]["code"] == "batch_cancelled" for e in errors)


def _native_route(tmp_path: Path, provider: dict[str, Any]) -> Path:
    deployments = [{"provider": "oa", "model": "gpt-4o-mini"}, {"provider": "up", "model": "x"}]
    file = tmp_path / "corral.yaml"
    file.write_text(yaml.safe_dump({"home": str(tmp_path / "home"),
                                    "providers": {"up": provider, "oa": {"type": "openai"}},
                                    "models": {"m": {"batch": "native", "deployments": deployments}}}))
    return file


@pytest.mark.parametrize("provider", [
    {"type": "gemini"}, {"type": "openai-compatible", "base_url": "http://127.0.0.1:9/v1"}])
def test_batch_native_needs_a_batch_api_behind_every_deployment(
        tmp_path: Path, provider: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match=r"corral\.yaml(.|\n)*models\.m\.batch: 'native'.*deployments\.1 "
                                          r"\(provider 'up', type (gemini|openai-compatible)\)"):
        load_settings(_native_route(tmp_path, provider))


def test_a_server_that_declares_a_batch_api_is_accepted_and_an_adapter_without_one_refused_at_start(
        tmp_path: Path) -> None:
    server = {"type": "openai-compatible", "base_url": "http://127.0.0.1:9/v1",
              "options": {"native_batch": True}}
    assert RouteTable.from_settings(load_settings(_native_route(tmp_path, server))).routes["m"].native_batch
    claimed = load_settings(_native_route(tmp_path, {"type": "gemini", "options": {"native_batch": True}}))
    with pytest.raises(ConfigError, match=r"deployments\.1 \(provider 'up', type gemini\) has none"):
        RouteTable.from_settings(claimed)


def test_without_the_option_a_route_runs_its_batches_itself(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, {"oa": {"type": "openai"}},
                            {"m": {"deployments": [{"provider": "oa", "model": "gpt-4o-mini"}]}})
    assert not RouteTable.from_settings(settings).routes["m"].native_batch
