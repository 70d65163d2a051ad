"""A policy event carrying NUL characters is kept, not dropped (issue 8, item 12).

PostgreSQL refuses NUL in text, and one refused row fails the recorder's whole batch.
"""

from __future__ import annotations

from corral.governance.policy_events import NUL_REPLACEMENT, PolicyEventStore
from corral.store import Database
from tests.governance.util import event


async def test_nul_characters_are_replaced_and_the_event_stored(migrated_db: Database) -> None:
    store = PolicyEventStore(migrated_db)
    written = await store.add_many([
        event(0, message="refused\x00 here", prompt_excerpt="tell me\x00\x00", category="vio\x00lence"),
        event(1),
    ])
    assert written == 2
    stored = {e.request_id: e for e in await store.list()}
    assert set(stored) == {"req_0", "req_1"}
    nul = stored["req_0"]
    assert nul.message == f"refused{NUL_REPLACEMENT} here"
    assert nul.prompt_excerpt == f"tell me{NUL_REPLACEMENT * 2}"
    assert nul.category == f"vio{NUL_REPLACEMENT}lence"
