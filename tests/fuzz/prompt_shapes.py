"""Request shapes for the prompt registry's admin routes (merged into `tests.fuzz.shapes.SHAPES`).

The fuzz keys are admin keys, which hold every prompts.* permission but own no prompt unless
they created it: most writes end in the registry's 403/404/409, which is the point."""

from __future__ import annotations

import random
from typing import Any
from urllib.parse import quote

from tests.fuzz.shapes import Builder, Case, Pool, _get
from tests.fuzz.values import odd_string


def _name(rng: random.Random) -> str:
    return rng.choice(["fuzz-agent", "support-agent", "UPPER", "a@b", "x" * 80, "-dash",
                       quote(odd_string(rng).encode("utf-8", "surrogatepass"), safe="")])


def _change(rng: random.Random) -> str:
    return rng.choice(["1", "2", "0", "-1", "1.5", "99999999999999999999", "abc"])


def create_prompt(rng: random.Random, pool: Pool) -> Case:
    body: dict[str, Any] = {"name": _name(rng), "text": rng.choice(["You are terse.", odd_string(rng)])}
    body.update(rng.choice([{"protected_labels": []}, {"owners": ["cli:someone"]}, {"owners": "key_x"},
                            {"bogus": 1}, {"protected_labels": ["Production"]}, {}]))
    return Case("POST /admin/prompts", "POST", "/admin/prompts", json=body, auth="admin",
                hotspots=[("text",)])


def get_prompt(rng: random.Random, pool: Pool) -> Case:
    return Case("GET /admin/prompts/{name}", "GET", "/admin/prompts/" + _name(rng), json=None,
                content_type=None, auth="admin")


def get_version(rng: random.Random, pool: Pool) -> Case:
    version = rng.choice(["1", "0", "x", "1000000000", "٣"])
    return Case("GET /admin/prompts/{name}/versions/{version}", "GET",
                f"/admin/prompts/{_name(rng)}/versions/{quote(version)}", json=None, content_type=None,
                auth="admin")


def add_version(rng: random.Random, pool: Pool) -> Case:
    body = {"text": rng.choice(["v2", odd_string(rng), ""]), "note": rng.choice([None, "n", 5])}
    return Case("POST /admin/prompts/{name}/versions", "POST", f"/admin/prompts/{_name(rng)}/versions",
                json=body, auth="admin", hotspots=[("text",)])


def move_label(rng: random.Random, pool: Pool) -> Case:
    label = rng.choice(["production", "staging", "3", "Bad", "x" * 50])
    body = rng.choice([{"version": 1}, {"version": "1"}, {"version": 0}, {"version": True}, {}, {"v": 1}])
    return Case("POST /admin/prompts/{name}/labels/{label}", "POST",
                f"/admin/prompts/{_name(rng)}/labels/{quote(label)}", json=body, auth="admin")


def get_change(rng: random.Random, pool: Pool) -> Case:
    return Case("GET /admin/prompt-changes/{change_id}", "GET", "/admin/prompt-changes/" + _change(rng),
                json=None, content_type=None, auth="admin")


def _decide(verb: str) -> Builder:
    def build(rng: random.Random, pool: Pool) -> Case:
        body = rng.choice([None, {}, {"reason": "no"}, {"bogus": 1}])
        return Case(f"POST /admin/prompt-changes/{{change_id}}/{verb}", "POST",
                    f"/admin/prompt-changes/{_change(rng)}/{verb}", json=body, auth="admin")
    return build


PROMPT_SHAPES: dict[str, Builder] = {
    "GET /admin/prompts": _get("/admin/prompts", "/admin/prompts", ["", "x=1"]),
    "POST /admin/prompts": create_prompt,
    "GET /admin/prompts/{name}": get_prompt,
    "POST /admin/prompts/{name}/versions": add_version,
    "GET /admin/prompts/{name}/versions/{version}": get_version,
    "POST /admin/prompts/{name}/labels/{label}": move_label,
    "GET /admin/prompt-changes": _get("/admin/prompt-changes", "/admin/prompt-changes",
                                      ["", "state=pending", "state=bogus", "name=fuzz-agent", "limit=0"]),
    "GET /admin/prompt-changes/{change_id}": get_change,
    "POST /admin/prompt-changes/{change_id}/approve": _decide("approve"),
    "POST /admin/prompt-changes/{change_id}/reject": _decide("reject"),
}
