"""Request shapes for `/admin/incidents` and `/admin/input-rules` (merged into `tests.fuzz.shapes.SHAPES`)."""

from __future__ import annotations

import random
from typing import Any
from urllib.parse import quote

from tests.fuzz.shapes import Builder, Case, Pool, _get
from tests.fuzz.values import odd_string


def _ref(rng: random.Random, prefix: str) -> str:
    return rng.choice([prefix + "0" * 32, prefix, "x" * 300,
                       quote(odd_string(rng).encode("utf-8", "surrogatepass"), safe="")])


def get_incident(rng: random.Random, pool: Pool) -> Case:
    return Case("GET /admin/incidents/{incident_id}", "GET", "/admin/incidents/" + _ref(rng, "inc_"),
                json=None, content_type=None, auth="admin")


def update_incident(rng: random.Random, pool: Pool) -> Case:
    body: dict[str, Any] = rng.choice([{"state": "triaged"}, {"assignee": "ops"}, {"severity": "critical"},
                                       {"note": odd_string(rng)}, {"state": "resolved", "note": "done"},
                                       {"bogus": 1}])
    return Case("PATCH /admin/incidents/{incident_id}", "PATCH", "/admin/incidents/" + _ref(rng, "inc_"),
                json=body, auth="admin", hotspots=[("note",)] if "note" in body else [])


def create_rule(rng: random.Random, pool: Pool) -> Case:
    body: dict[str, Any] = {"pattern": rng.choice(["ignore previous instructions", odd_string(rng), "(a+)+$",
                                                   "x" * 600]),
                            "kind": rng.choice(["literal", "regex", "glob"]),
                            "action": rng.choice(["flag", "block", "drop"]),
                            "route": "fuzz-no-such-route"}  # never a served route: fuzz chats stay unblocked
    return Case("POST /admin/input-rules", "POST", "/admin/input-rules", json=body, auth="admin",
                hotspots=[("pattern",)])


def suggest_rules(rng: random.Random, pool: Pool) -> Case:
    body = rng.choice([{"policy_event_ids": [1, 2, 3]}, {"incident_id": "inc_" + "0" * 32},
                       {"policy_event_ids": []}, {"limit": 3}])
    return Case("POST /admin/input-rules/suggest", "POST", "/admin/input-rules/suggest", json=body,
                auth="admin")


def retire_rule(rng: random.Random, pool: Pool) -> Case:
    return Case("DELETE /admin/input-rules/{rule_id}", "DELETE", "/admin/input-rules/" + _ref(rng, "rule_"),
                json=None, content_type=None, auth="admin")


INCIDENT_SHAPES: dict[str, Builder] = {
    "GET /admin/incidents": _get("/admin/incidents", "/admin/incidents",
                                 ["", "state=open", "severity=high&limit=5", "category=harmful", "since=1h",
                                  "state=nope", "limit=0"]),
    "GET /admin/incidents/stats": _get("/admin/incidents/stats", "/admin/incidents/stats",
                                       ["", "since=7d", "since=x"]),
    "GET /admin/incidents/{incident_id}": get_incident,
    "PATCH /admin/incidents/{incident_id}": update_incident,
    "GET /admin/input-rules": _get("/admin/input-rules", "/admin/input-rules", ["", "include_retired=true"]),
    "POST /admin/input-rules": create_rule,
    "POST /admin/input-rules/suggest": suggest_rules,
    "DELETE /admin/input-rules/{rule_id}": retire_rule,
}
