"""Request shapes for `/v1/batches` (merged into `tests.fuzz.shapes.SHAPES`)."""

from __future__ import annotations

import random
from urllib.parse import quote

from tests.fuzz.shapes import Builder, Case, Pool, _get
from tests.fuzz.values import odd_string


def create_batch(rng: random.Random, pool: Pool) -> Case:
    body = {
        "input_file_id": pool.pick(rng, pool.file_ids, rng.choice(["file-" + "0" * 24, "", "x" * 300])),
        "endpoint": rng.choice(["/v1/chat/completions", "/v1/embeddings", "/v1/responses",
                                "/v1/completions"]),
        "completion_window": rng.choice(["24h", "24h", "1h", ""]),
    }
    if rng.random() < 0.3:
        body["metadata"] = rng.choice([{"k": "v"}, {"k": 5}, {str(i): "x" for i in range(20)}, "x"])
    return Case("POST /v1/batches", "POST", "/v1/batches", json=body,
                hotspots=[("input_file_id",), ("endpoint",), ("completion_window",)])


def _batch_ref(rng: random.Random) -> str:
    return rng.choice(["batch_" + "0" * 32, "batch_", "x" * 300,
                       quote(odd_string(rng).encode("utf-8", "surrogatepass"), safe="")])


def _batch_route(method: str, suffix: str = "") -> Builder:
    def build(rng: random.Random, pool: Pool) -> Case:
        return Case(f"{method} /v1/batches/{{batch_id}}{suffix}", method,
                    "/v1/batches/" + _batch_ref(rng) + suffix, json=None, content_type=None)
    return build


BATCH_SHAPES: dict[str, Builder] = {
    "POST /v1/batches": create_batch,
    "GET /v1/batches": _get("/v1/batches", "/v1/batches", ["", "limit=2", "after=batch_x", "limit=0",
                                                           "limit=1000"], auth="inference"),
    "GET /v1/batches/{batch_id}": _batch_route("GET"),
    "POST /v1/batches/{batch_id}/cancel": _batch_route("POST", "/cancel"),
    "GET /admin/dashboard/batches": _get("/admin/dashboard/batches", "/admin/dashboard/batches",
                                         ["", "limit=5", "limit=0", "limit=501", "status=completed",
                                          "team=blue&status=in_progress", "team=%00"]),
}
