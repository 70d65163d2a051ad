"""The request attached to an incident is the record as stored: redacted by the privacy stage."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import settings_for
from tests.incidents.stack import FAST_JOBS, started

EMAIL = "margaret.thornbury@example.com"


async def test_the_attached_request_and_the_report_text_are_redacted(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, {"fake": {"type": "fake"}},
                            {"private": {"deployments": [{"provider": "fake", "model": "echo"}],
                                         "privacy": {"policy": "redact"}}},
                            jobs=FAST_JOBS, observability={"capture_content": True})
    async with started(settings) as stack:
        chat = await stack.chat(f"Write to {EMAIL} about the invoice", model="private")
        assert chat.status_code == 200, chat.text
        await stack.records_flushed()
        r = await stack.client.post("/v1/feedback", headers=stack.auth("app"), json={
            "response_id": chat.json()["id"], "category": "data_leak",
            "comment": f"it repeated {EMAIL} back to me"})
        assert r.status_code == 201, r.text
        shown = await stack.client.get(f"/admin/incidents/{r.json()['incident']['id']}",
                                       headers=stack.auth("auditor"))
        text = shown.text
        assert shown.status_code == 200 and EMAIL not in text
        body = shown.json()
        assert body["request"]["prompt"] is not None and "invoice" in str(body["request"]["prompt"])
        assert "repeated" in body["notes"][0]["text"]
        note = await stack.client.patch(f"/admin/incidents/{body['id']}", headers=stack.auth("reviewer"),
                                        json={"note": f"confirmed: {EMAIL} was in the answer"})
        assert note.status_code == 200
        again = await stack.client.get(f"/admin/incidents/{body['id']}", headers=stack.auth("auditor"))
        assert EMAIL not in again.text and "confirmed" in again.text
