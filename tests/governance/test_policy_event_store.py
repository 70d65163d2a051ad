"""PolicyEventStore queries on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from corral.core.timespan import parse_since
from corral.core.types import ImagePart, Message, TextPart
from corral.governance.policy_events import PolicyEventStore, prompt_excerpt
from corral.store import Database
from tests.governance.util import T0, event


@pytest.fixture
async def store(migrated_db: Database) -> PolicyEventStore:
    s = PolicyEventStore(migrated_db)
    await s.add_many([
        event(0, category="violence"),
        event(1, category="self_harm", route="claude", key_id="key_b", stream=True),
        event(2, category="violence", route="claude", prompt_excerpt=None, provider=None),
        event(3, category="violence"),
    ])
    return s


async def test_list_newest_first_with_all_fields(store: PolicyEventStore) -> None:
    events = await store.list()
    assert [e.request_id for e in events] == ["req_3", "req_2", "req_1", "req_0"]
    one = events[2]
    assert one.id is not None and one.created_at == T0 + timedelta(minutes=1)
    assert (one.route, one.category, one.key_id, one.team) == ("claude", "self_harm", "key_b", "growth")
    assert (one.deployment, one.provider, one.stream) == ("openai/gpt-4o", "openai", True)
    assert events[1].prompt_excerpt is None and events[1].provider is None
    assert one.to_dict()["created_at"] == "2024-05-01T12:01:00+00:00"


async def test_list_filters_and_limit(store: PolicyEventStore) -> None:
    assert [e.request_id for e in await store.list(limit=2)] == ["req_3", "req_2"]
    assert [e.request_id for e in await store.list(route="claude")] == ["req_2", "req_1"]
    assert [e.request_id for e in await store.list(key_id="key_b")] == ["req_1"]
    since = T0 + timedelta(minutes=2)
    assert [e.request_id for e in await store.list(since=since)] == ["req_3", "req_2"]
    assert [e.request_id for e in await store.list(since=since, route="gpt")] == ["req_3"]
    assert await store.list(route="nope") == []


async def test_count_by(store: PolicyEventStore) -> None:
    assert await store.count_by("category") == {"violence": 3, "self_harm": 1}
    assert await store.count_by("route") == {"claude": 2, "gpt": 2}
    assert await store.count_by("category", since=T0 + timedelta(minutes=1)) == {
        "violence": 2, "self_harm": 1,
    }
    with pytest.raises(ValueError, match="category"):
        await store.count_by("team")  # type: ignore[arg-type]


async def test_oversized_values_are_clipped_not_rejected(migrated_db: Database) -> None:
    store = PolicyEventStore(migrated_db)
    long = event(9, request_id="r" * 128, category="c" * 500, provider="p" * 500, prompt_excerpt="x" * 5000)
    await store.add_many([long, event(10)])  # PostgreSQL would reject the batch unclipped
    newest, clipped = await store.list()
    assert newest.request_id == "req_10"
    assert clipped.request_id == "r" * 128 and clipped.message == "refused"
    assert clipped.category == "c" * 200 and clipped.provider == "p" * 100
    assert clipped.prompt_excerpt == "x" * 2000


async def test_add_many_empty_is_a_no_op(migrated_db: Database) -> None:
    assert await PolicyEventStore(migrated_db).add_many([]) == 0


def test_prompt_excerpt_is_the_last_user_message_capped() -> None:
    messages = [
        Message("system", "rules"),
        Message("user", "first"),
        Message("assistant", "ok"),
        Message("user", [TextPart("x" * 1500), ImagePart("https://e/i.png"), TextPart("y" * 1500)]),
    ]
    excerpt = prompt_excerpt(messages)
    assert excerpt == "x" * 1500 + "y" * 500
    assert prompt_excerpt([Message("system", "only")]) is None


def test_parse_since() -> None:
    now = datetime(2024, 5, 2, tzinfo=UTC)
    assert parse_since(None) is None and parse_since(" ") is None
    assert parse_since("24h", now=now) == datetime(2024, 5, 1, tzinfo=UTC)
    assert parse_since("30m", now=now) == now - timedelta(minutes=30)
    assert parse_since("2024-05-01T12:00:00Z") == T0
    assert parse_since("2024-05-01T12:00:00") == T0  # naive means UTC
    assert parse_since("2024-05-01T14:00:00+02:00") == T0
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_since("yesterday")
