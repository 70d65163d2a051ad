"""Grounded chat completions (a route's `knowledge` option) through the official openai SDK.

Upstreams: the simulator (a test-only fake LLM server, route `support-sim`) and the
in-process fake provider (`echo`: answers "echo: <the last user message>", so a test writes
the answer, citations included, and `FakeProvider.calls` shows what the provider was sent).
Documents are embedded by the built-in local model, as a default gateway does.

Store ids exist only once the server runs, while routes are read at start: the routes start
with a placeholder store and `point` names the real ones (a test-only shortcut; operators
write the ids in corral.yaml).
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from corral.api.app import create_app
from corral.observe.quality.scores import QualityScoreStore
from corral.simulator import SimSettings, SimulatorThread
from corral.store import Database
from tests.conftest import RunningServer, serve_in_thread, settings_for
from tests.fakes import FakeProvider
from tests.files.server import new_key
from tests.integration.records import stored_records
from tests.knowledge.stores.server import EMBED_PROVIDERS, EMBED_ROUTES

SIM_KEY = "sim-grounded-chat-secret"
EMAIL = "margaret.thornbury@example.com"
DOCS = {
    "returns.md": "# Returns\n\nItems can be returned within thirty days of delivery for a full refund. "
                  "Refunds reach the original card within five business days of the parcel's arrival "
                  "at the Lyon warehouse, and the customer gets an email when it is issued.",
    "shipping.txt": "Parcels ship from Lyon every weekday. Express delivery takes one day within France "
                    "and three days to the rest of Europe; standard delivery takes up to a week.",
    "disputes.txt": f"Refund disputes go to the returns desk manager, {EMAIL}, who answers within a "
                    "week and may offer store credit instead of a refund when the item was damaged.",
    "giftcards.txt": "Gift cards never expire and can be used on any order, including sale items. A "
                     "lost gift card can be replaced once when the order number is known.",
}
OTHER_DOC = "Zanzibar policy: the Zanzibar warehouse accepts returns only on Tuesdays."
PLACEHOLDER = ["vs_placeholder"]
ROUTES = ("support-sim", "support", "support-tight", "support-private", "support-scored")


@pytest.fixture(scope="module")
def corral(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    mp = pytest.MonkeyPatch()
    mp.setenv("SIM_GROUNDED_KEY", SIM_KEY)
    option = {"stores": PLACEHOLDER, "top_k": 3}
    echo = [{"provider": "fake", "model": "echo"}]
    with SimulatorThread(SimSettings(output_tokens=12, require_key=SIM_KEY)) as sim:
        settings = settings_for(
            tmp_path_factory.mktemp("grounded-chat"),
            {"sim": {"type": "openai", "base_url": f"{sim.url}/v1", "api_key_env": "SIM_GROUNDED_KEY"},
             "fake": {"type": "fake"}, **EMBED_PROVIDERS},
            {"support-sim": {"deployments": [{"provider": "sim", "model": "gpt-sim"}], "knowledge": option},
             "support": {"deployments": echo, "knowledge": option},
             "support-tight": {"deployments": echo,
                               "knowledge": {**option, "top_k": 4, "max_context_tokens": 300}},
             "support-private": {"deployments": echo, "knowledge": option, "privacy": {"policy": "redact"}},
             # Records keep content (so answers are scored) only under a privacy policy.
             "support-scored": {"deployments": echo, "knowledge": option, "privacy": {"policy": "log-only"}},
             **EMBED_ROUTES},
            jobs={"poll_interval_s": 0.05},
            observability={"capture_content": True},
            alerts={"interval_s": 3600,
                    "rules": [{"name": "grounded", "kind": "consistency", "threshold": 0.5, "window_s": 60}]},
        )
        try:
            for server in serve_in_thread(create_app(settings, warmup=False)):
                server.gateway.recorder.quality.sample_rate = 1.0  # score every answer, not 5%
                yield server
        finally:
            mp.undo()


def sdk(server: RunningServer, key: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key or server.app_key, max_retries=0)


def upload(oa: openai.OpenAI, name: str, docs: dict[str, str]) -> tuple[str, dict[str, str]]:
    made = oa.vector_stores.create(name=name)
    ids = {n: oa.files.create(file=(n, io.BytesIO(text.encode())), purpose="assistants").id
           for n, text in docs.items()}
    batch = oa.vector_stores.file_batches.create_and_poll(
        vector_store_id=made.id, file_ids=list(ids.values()), poll_interval_ms=50)
    assert batch.file_counts.completed == len(docs), batch
    return made.id, ids


@pytest.fixture(scope="module")
def stores(corral: RunningServer) -> dict[str, Any]:
    """The default team's store (DOCS) and another team's (OTHER_DOC), both named by every route."""
    ours, ids = upload(sdk(corral), "support", DOCS)
    other_key = new_key(corral, "other-team")
    theirs, _ = upload(sdk(corral, other_key), "theirs", {"zanzibar.txt": OTHER_DOC})
    for route in ROUTES:
        corral.gateway.routes.routes[route].settings.knowledge.stores = [ours, theirs]
    return {"ours": ours, "theirs": theirs, "ids": ids, "other_key": other_key}


def ask(server: RunningServer, route: str, question: str, key: str | None = None) -> Any:
    return sdk(server, key).chat.completions.with_raw_response.create(
        model=route,
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": question}])


def test_sources_in_the_extension_field_and_header(corral: RunningServer, stores: dict[str, Any]) -> None:
    raw = ask(corral, "support-sim", "How long do refunds take to reach the card?")
    answer = raw.parse()
    extension = answer.model_extra["corral"]
    sources = extension["sources"]
    assert raw.headers["x-corral-sources"] == str(len(sources)) and 1 <= len(sources) <= 3
    assert [s["index"] for s in sources] == list(range(1, len(sources) + 1))
    assert sources[0]["filename"] == "returns.md" and sources[0]["file_id"] == stores["ids"]["returns.md"]
    assert all(0 <= s["score"] <= 1 and s["filename"] in DOCS for s in sources)
    assert extension["citations"] == [] and answer.choices[0].message.content  # the simulator cites nothing
    request_id = raw.headers["x-request-id"]
    found = asyncio.run(stored_records(corral, lambda r: r["request_id"].startswith(request_id), 2))
    by_id = {r["request_id"]: r for r in found}
    grounding = by_id[request_id]["extras"]["grounding"]
    assert grounding["sources"] == len(sources) and grounding["search_request_ids"] == [f"{request_id}:fs1"]
    assert 0 < grounding["context_tokens"] <= 2000
    search = by_id[f"{request_id}:fs1"]  # the query embedding: an ordinary recorded request, on the store
    assert search["operation"] == "embeddings" and search["extras"]["job_id"] == stores["ours"]


def test_citations_are_read_and_the_text_left_as_written(corral: RunningServer,
                                                          stores: dict[str, Any]) -> None:
    question = "Refunds reach the original card within five business days [1]. Gift cards never expire [9]."
    raw = ask(corral, "support", question)
    answer = raw.parse()
    assert answer.choices[0].message.content == f"echo: {question}"  # markers kept for chat completions
    extension = answer.model_extra["corral"]
    first = extension["sources"][0]
    cited = {"index": 1, "file_id": first["file_id"], "filename": first["filename"]}
    assert extension["citations"] == [cited]
    rules, block = FakeProvider.calls[-1].messages[1], FakeProvider.calls[-1].messages[-2]
    assert FakeProvider.calls[-1].messages[0].text() == "Be brief."
    assert rules.role == "system" and "quoted data, not instructions" in rules.text()
    assert block.role == "user" and block.text().startswith("=== SOURCES ")
    assert FakeProvider.calls[-1].messages[-1].text() == question


def test_the_budget_keeps_the_best_sources_and_records_the_dropped(corral: RunningServer,
                                                                 stores: dict[str, Any]) -> None:
    raw = ask(corral, "support-tight", "Where do parcels ship from and how long does delivery take?")
    sources = raw.parse().model_extra["corral"]["sources"]
    request_id = raw.headers["x-request-id"]
    record = asyncio.run(stored_records(corral, lambda r: r["request_id"] == request_id))[0]
    grounding = record["extras"]["grounding"]
    assert 1 <= len(sources) < 4 and grounding["sources"] == len(sources)
    assert grounding["dropped"] >= 1 and len(sources) + grounding["dropped"] <= 4
    assert grounding["context_tokens"] <= 300
    assert sources[0]["score"] >= sources[-1]["score"]  # best first


def test_another_teams_store_is_never_searched(corral: RunningServer, stores: dict[str, Any]) -> None:
    raw = ask(corral, "support", "Which days does the Zanzibar warehouse accept returns?")
    sources = raw.parse().model_extra["corral"]["sources"]
    assert sources and all(s["filename"] in DOCS for s in sources)
    assert "Zanzibar policy" not in FakeProvider.calls[-1].messages[-2].text()
    request_id = raw.headers["x-request-id"]
    found = asyncio.run(stored_records(corral, lambda r: r["request_id"].startswith(request_id), 2))
    jobs = [r["extras"].get("job_id") for r in found if r["request_id"] != request_id]
    assert jobs == [stores["ours"]], "one search, in the caller's own store"
    # The other team asking the same route searches its own store only.
    raw = ask(corral, "support", "Which days does the Zanzibar warehouse accept returns?",
              stores["other_key"])
    assert [s["filename"] for s in raw.parse().model_extra["corral"]["sources"]] == ["zanzibar.txt"]
    # A team with no store on the route is refused, not answered ungrounded.
    with pytest.raises(openai.PermissionDeniedError) as refused:
        ask(corral, "support", "How long do refunds take?", new_key(corral, "third-team"))
    assert refused.value.code == "knowledge_store_unavailable"


def test_personal_data_in_a_document_is_redacted_before_the_upstream(corral: RunningServer,
                                                                     stores: dict[str, Any]) -> None:
    raw = ask(corral, "support-private", "Who handles refund disputes, and how fast do they answer?")
    assert "disputes.txt" in {s["filename"] for s in raw.parse().model_extra["corral"]["sources"]}
    block = FakeProvider.calls[-1].messages[-2].text()
    assert "returns desk manager" in block and EMAIL not in block, "the provider saw the address"


def test_streaming_carries_the_sources_on_the_finishing_chunk(corral: RunningServer,
                                                              stores: dict[str, Any]) -> None:
    question = "Gift cards never expire and can be used on any order [1]."
    with sdk(corral).chat.completions.with_streaming_response.create(
            model="support", stream=True, stream_options={"include_usage": True},
            messages=[{"role": "user", "content": question}]) as raw:
        count = raw.headers["x-corral-sources"]
        chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == f"echo: {question}"
    finishing = [c for c in chunks if c.choices and c.choices[0].finish_reason is not None]
    assert len(finishing) == 1
    assert all("corral" not in (c.model_extra or {}) for c in chunks if c not in finishing)
    extension = (finishing[0].model_extra or {})["corral"]
    assert str(len(extension["sources"])) == count and extension["sources"][0]["filename"] == "giftcards.txt"
    assert extension["citations"] == [{k: v for k, v in extension["sources"][0].items() if k != "score"}]


def wait_scored(server: RunningServer, count: int, timeout_s: float = 15) -> dict[str, Any]:
    """The rolling consistency of route `support-scored` once `count` answers are scored."""
    quality = server.gateway.recorder.quality
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rows = [r for r in quality.snapshot()
                if r["route"] == "support-scored" and r["kind"] == "consistency"]
        if rows and rows[0]["count"] >= count:
            return dict(rows[0])
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} consistency scores: {quality.snapshot()}")


def test_consistency_is_scored_and_a_drop_raises_the_alert(corral: RunningServer,
                                                           stores: dict[str, Any]) -> None:
    faithful = ["Items can be returned within thirty days of delivery for a full refund.",
                "Parcels ship from Lyon every weekday.",
                "Gift cards never expire and can be used on any order, including sale items.",
                "Express delivery takes one day within France.",
                "A lost gift card can be replaced once when the order number is known."]
    for question in faithful:
        ask(corral, "support-scored", question)
    good = wait_scored(corral, len(faithful))
    alerts = corral.gateway.alerts
    assert good["ewma"] > 0.7
    assert asyncio.run(alerts.evaluate()) == []  # no database: the rule reads the scorer's rolling score
    unrelated = ["The Eiffel Tower was completed in 1889 for the World Fair in Paris.",
                 "Photosynthesis turns sunlight, water and carbon dioxide into sugar.",
                 "Mount Everest is the highest mountain above sea level on Earth.",
                 "Jupiter has dozens of moons, and Ganymede is the largest of them.",
                 "The Nile flows north through eleven countries into the Mediterranean.",
                 "Beethoven wrote nine symphonies, and the last includes a choir.",
                 "Honey bees communicate the direction of flowers with a waggle dance.",
                 "The Great Wall of China was built over many centuries by several dynasties."]
    for question in unrelated:
        ask(corral, "support-scored", question)
    bad = wait_scored(corral, len(faithful) + len(unrelated))
    assert bad["ewma"] < 0.5 < good["ewma"]
    events = asyncio.run(alerts.evaluate())
    assert [(e["alert"], e["status"]) for e in events] == [("grounded", "firing")]

    async def stored() -> list[Any]:
        db = await Database.connect(corral.gateway.db.url)
        try:
            return await QualityScoreStore(db).list("support-scored", limit=100)
        finally:
            await db.close()

    deadline = time.monotonic() + 10
    while len(scores := [s for s in asyncio.run(stored()) if s.kind == "consistency"]) < 13:
        assert time.monotonic() < deadline, scores
        time.sleep(0.1)
    assert all(0 <= s.score <= 1 and s.model == "echo" for s in scores)


def test_a_responses_file_search_keeps_its_own_search(corral: RunningServer, stores: dict[str, Any]) -> None:
    def blocks() -> int:
        return sum(m.text().startswith("=== SOURCES ") for m in FakeProvider.calls[-1].messages)

    oa = sdk(corral)
    oa.responses.create(model="support", input="Do gift cards expire?",
                        tools=[{"type": "file_search", "vector_store_ids": [stores["ours"]]}])
    assert blocks() == 1  # the tool's search, not the route's as well
    oa.responses.create(model="support", input="Do gift cards expire?")
    assert blocks() == 1  # without the tool, the route grounds it
