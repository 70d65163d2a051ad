"""The governance document's prompt and incident sections: owners by name, protected labels,
pending approvals, escalation from the configuration, and time to triage from the database."""

from __future__ import annotations

from corral.auth.service import KeyService
from corral.config import Settings, default_settings_data
from corral.governance.document import governance_document
from corral.governance.document_people import gather_facts
from corral.incidents.store import IncidentStore, Report
from corral.prompts.models import Actor
from corral.prompts.registry import PromptRegistry
from corral.store.db import Database


def _settings(**extra: object) -> Settings:
    data = default_settings_data()
    data["models"]["smollm2-135m-instruct"]["prompt"] = "support-agent@production"
    return Settings.model_validate({**data, **extra})


async def test_prompts_and_incidents_come_from_the_database(migrated_db: Database) -> None:
    keys = KeyService(migrated_db, touch_interval_s=None)
    _, alice = await keys.create("alice-laptop", "support", ["prompt-owner"])
    _, bob = await keys.create("bob-laptop", "support", ["prompt-owner"])
    registry = PromptRegistry(migrated_db)
    await registry.create(Actor(alice.id, alice.name), "support-agent", owners=[bob.id], text="Be kind.")
    await registry.move_label(Actor(alice.id, alice.name), "support-agent", "production", 1)  # pending
    await IncidentStore(migrated_db).report(Report("harmful", None, "req_1", None, alice.id, "support", None))

    settings = _settings(governance={"escalation": {"webhook_url": "https://oncall.example.com/hook?token=x",
                                                    "secret_env": "HOOK_SECRET"}})
    text = governance_document(settings, facts=await gather_facts(migrated_db))
    assert "| `smollm2-135m-instruct` | `support-agent@production` | no |" in text
    assert f"alice-laptop (key {alice.id}), bob-laptop (key {bob.id})" in text
    assert "| `production` | none | 1 |" in text  # protected, not moved yet, one change awaiting approval
    assert "`https://oncall.example.com` (signed with a shared secret)" in text
    assert "token=x" not in text  # a secret in the webhook's query string stays out of the document
    assert "| Incidents recorded | 1 |" in text and "| Waiting for triage now | 1 |" in text


def test_without_a_database_the_sections_say_where_to_look() -> None:
    text = governance_document(_settings())
    assert "`corral prompts list` does" in text
    assert "**No escalation path is configured**" in text
    assert "no incident figures" in text
