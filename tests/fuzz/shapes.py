"""Valid-looking requests, one builder per route; `mutate` then breaks them.

Each builder returns a `Case` that a correct gateway should usually accept, so mutations
land deep inside the handler rather than at the first check. Builders are keyed by
``"METHOD /template"`` exactly as the app declares the route: `test_every_route_has_a_shape`
fails when a route is added without one.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from tests.fuzz.gateway import CHAT_ROUTES, EMBED_ROUTES
from tests.fuzz.values import odd_schema, odd_string


@dataclass
class Case:
    """One request, described well enough to print as a reproducer."""

    route: str  # "METHOD /template" this case was built for
    method: str
    path: str  # raw request target path, already percent-encoded
    query: str = ""
    json: Any = None  # body as a JSON-ish tree (see jsontext), unless `body` is set
    body: bytes | None = None
    content_type: str | None = "application/json"
    auth: str | None = "inference"  # a key role, or None for no credentials
    auth_style: str = "bearer"  # bearer | x-api-key | api-key | raw:<header value>
    headers: list[tuple[str, str]] = field(default_factory=list)
    model: str | None = None  # the public model targeted, if any
    hotspots: list[tuple[Any, ...]] = field(default_factory=list)  # free-form fields in `json`
    notes: list[str] = field(default_factory=list)  # which mutations were applied


@dataclass
class Pool:
    """Identifiers seen in earlier answers, so path parameters sometimes name real things."""

    request_ids: list[str] = field(default_factory=list)
    response_ids: list[str] = field(default_factory=list)
    key_refs: list[str] = field(default_factory=list)  # ids, prefixes, raw keys of fuzz-made keys
    golden_ids: list[str] = field(default_factory=list)
    file_ids: list[str] = field(default_factory=list)

    def pick(self, rng: random.Random, items: list[str], fallback: str) -> str:
        return rng.choice(items) if items and rng.random() < 0.6 else fallback


Builder = Callable[[random.Random, Pool], Case]


def _text(rng: random.Random) -> str:
    return rng.choice(["hello", "Email jane.doe@example.com about card 4111 1111 1111 1111",
                       "call +1 415 555 2671", "say hi", odd_string(rng)])


def _message(rng: random.Random) -> dict[str, Any]:
    pick = rng.randrange(6)
    if pick == 0:
        return {"role": "system", "content": _text(rng)}
    if pick == 1:
        return {"role": "user", "content": [{"type": "text", "text": _text(rng)},
                                            {"type": "image_url", "image_url": {"url": "data:,x"}}]}
    if pick == 2:
        return {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}}]}
    if pick == 3:
        return {"role": "tool", "tool_call_id": "call_1", "content": _text(rng)}
    if pick == 4:
        return {"role": "developer", "content": _text(rng), "name": "dev"}
    return {"role": "user", "content": _text(rng)}


def chat(rng: random.Random, pool: Pool) -> Case:
    model = rng.choice([*CHAT_ROUTES, "sim-alias", "no-such-model"])
    messages = [_message(rng) for _ in range(rng.randint(0, 3))] + [{"role": "user", "content": _text(rng)}]
    body: dict[str, Any] = {"model": model, "messages": messages}
    hotspots: list[tuple[Any, ...]] = []
    if rng.random() < 0.5:
        body["stream"] = True
        body["stream_options"] = {"include_usage": rng.random() < 0.5}
    if rng.random() < 0.5:
        body["tools"] = [{"type": "function", "function": {
            "name": "f", "description": "d",
            "parameters": {"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x"]}}}]
        named = {"type": "function", "function": {"name": "f"}}
        body["tool_choice"] = rng.choice(["auto", "required", named])
        hotspots += [("tools", 0, "function", "parameters"), ("tool_choice",)]
    if rng.random() < 0.3:
        body["response_format"] = {"type": "json_schema", "json_schema": {
            "name": "r", "schema": {"type": "object", "properties": {"a": {"type": "integer"}}}}}
        hotspots.append(("response_format", "json_schema"))
    for name, value in (("max_tokens", 8), ("temperature", 0.5), ("top_p", 1), ("stop", ["\n"]),
                        ("seed", 7), ("user", "u1"), ("n", 1), ("parallel_tool_calls", True)):
        if rng.random() < 0.15:
            body[name] = value
    if any(m.get("tool_calls") for m in messages):
        i = next(i for i, m in enumerate(messages) if m.get("tool_calls"))
        hotspots.append(("messages", i, "tool_calls", 0, "function", "arguments"))
    hotspots.append(("metadata",))  # an unknown parameter, passed through to OpenAI deployments
    return Case("POST /v1/chat/completions", "POST", "/v1/chat/completions", json=body, model=model,
                hotspots=hotspots)


def embeddings(rng: random.Random, pool: Pool) -> Case:
    model = rng.choice([*EMBED_ROUTES, "embed", "sim", "no-such-model"])
    body: dict[str, Any] = {"model": model, "input": rng.choice(["hi", ["a", "b"], _text(rng)])}
    if rng.random() < 0.3:
        body["dimensions"] = rng.choice([4, 8, 16])
    if rng.random() < 0.3:
        body["encoding_format"] = rng.choice(["float", "base64"])
    if rng.random() < 0.2:
        body["user"] = "u1"
    return Case("POST /v1/embeddings", "POST", "/v1/embeddings", json=body, model=model,
                hotspots=[("user",), ("dimensions",)])


def list_models(rng: random.Random, pool: Pool) -> Case:
    return Case("GET /v1/models", "GET", "/v1/models", json=None, content_type=None)


def get_model(rng: random.Random, pool: Pool) -> Case:
    name = rng.choice([*CHAT_ROUTES, "sim-alias", "a/b/c", "x" * 2000, "%2e%2e", "..%2F..%2Fetc", ""])
    return Case("GET /v1/models/{model:path}", "GET", "/v1/models/" + name, json=None, content_type=None)


def feedback(rng: random.Random, pool: Pool) -> Case:
    body: dict[str, Any] = {rng.choice(["request_id", "response_id"]): pool.pick(
        rng, pool.request_ids + pool.response_ids, "req_missing")}
    body.update(rng.choice([{"rating": "up"}, {"score": 0.5}, {"comment": _text(rng)},
                            {"correction": _text(rng), "rating": "down"}]))
    return Case("POST /v1/feedback", "POST", "/v1/feedback", json=body)


def list_keys(rng: random.Random, pool: Pool) -> Case:
    query = rng.choice(["", "include_revoked=1", "include_revoked=true", "include_revoked=%FF"])
    return Case("GET /admin/keys", "GET", "/admin/keys", query=query, json=None, content_type=None,
                auth="admin")


def create_key(rng: random.Random, pool: Pool) -> Case:
    body: dict[str, Any] = {"name": f"fuzz-{rng.randrange(10**6)}", "team": rng.choice(["default", "blue"]),
                            "scopes": rng.choice([["inference"], ["admin"], ["admin", "inference"]])}
    return Case("POST /admin/keys", "POST", "/admin/keys", json=body, auth="admin", hotspots=[("scopes",)])


def revoke_key(rng: random.Random, pool: Pool) -> Case:
    ref = pool.pick(rng, pool.key_refs, rng.choice(["key_missing", "sk-corral-", "sk-corral-" + "A" * 32]))
    return Case("DELETE /admin/keys/{key_id}", "DELETE", "/admin/keys/" + quote(ref, safe=""), json=None,
                content_type=None, auth="admin")


def policy_events(rng: random.Random, pool: Pool) -> Case:
    query = rng.choice(["", "limit=5", "since=24h", "since=2024-05-01T12:00:00Z", "route=block",
                        "key_id=x&limit=1000"])
    return Case("GET /admin/policy-events", "GET", "/admin/policy-events", query=query, json=None,
                content_type=None, auth="admin")


def pii_scan(rng: random.Random, pool: Pool) -> Case:
    body = {"text": _text(rng), "show_values": rng.random() < 0.5}
    return Case("POST /admin/pii/scan", "POST", "/admin/pii/scan", json=body, auth="admin")


def erasure(rng: random.Random, pool: Pool) -> Case:
    body = {rng.choice(["user", "key", "request"]): rng.choice([f"fuzz-user-{rng.randrange(10**6)}",
                                                                "req_missing", "key_missing"])}
    return Case("POST /admin/erasure", "POST", "/admin/erasure", json=body, auth="admin")


def list_golden(rng: random.Random, pool: Pool) -> Case:
    return Case("GET /admin/golden", "GET", "/admin/golden", query=rng.choice(["", "route=sim"]), json=None,
                content_type=None, auth="admin")


def create_golden(rng: random.Random, pool: Pool) -> Case:
    body = {"route": rng.choice(CHAT_ROUTES), "question": _text(rng), "answer": _text(rng)}
    return Case("POST /admin/golden", "POST", "/admin/golden", json=body, auth="admin")


def delete_golden(rng: random.Random, pool: Pool) -> Case:
    odd = ["999999", "0", "-1", "1.5", "١٢", "99999999999999999999"]
    ref = pool.pick(rng, pool.golden_ids, rng.choice(odd))
    return Case("DELETE /admin/golden/{golden_id}", "DELETE", "/admin/golden/" + quote(ref, safe=""),
                json=None, content_type=None, auth="admin")


def _get(route: str, path: str, queries: list[str], auth: str | None = "admin") -> Builder:
    def build(rng: random.Random, pool: Pool) -> Case:
        return Case(f"GET {route}", "GET", path, query=rng.choice(queries), json=None, content_type=None,
                    auth=auth)
    return build


def dashboard_asset(rng: random.Random, pool: Pool) -> Case:
    name = rng.choice(["index.html", "app.js", "style.css", "nope.js", "..%2F..%2Fsetup.py", "%00"])
    return Case("GET /dashboard/{asset}", "GET", "/dashboard/" + name, json=None, content_type=None,
                auth=None)


def get_request(rng: random.Random, pool: Pool) -> Case:
    ref = pool.pick(rng, pool.request_ids, rng.choice(["req_missing", "x" * 500]))
    return Case("GET /admin/requests/{request_id}", "GET", "/admin/requests/" + quote(ref, safe=""),
                json=None, content_type=None, auth="admin")


_BATCH_LINE = (b'{"custom_id": "%d", "method": "POST", "url": "/v1/chat/completions", '
               b'"body": {"model": "sim", "messages": [{"role": "user", "content": "hi"}]}}\n')


def _file_bytes(rng: random.Random) -> bytes:
    lines = b"".join(_BATCH_LINE % i for i in range(rng.randrange(1, 4)))
    return rng.choice([lines, lines + b"{oops\n", lines + _BATCH_LINE % 0, b"", b"\xff\xfe\x00" * 10,
                       odd_string(rng).encode("utf-8", "surrogatepass"), b"\r\n--fz\r\n--fz--" + lines])


def upload_file(rng: random.Random, pool: Pool) -> Case:
    """A multipart upload, sometimes with the purpose after the file, odd fields, or cut short."""
    fields = [("purpose", rng.choice(["batch", "batch", "user_data", "assistants", "fine-tune",
                                      "batch_output", "", odd_string(rng)]))]
    if rng.random() < 0.3:
        fields += [("expires_after[anchor]", rng.choice(["created_at", "x"])),
                   ("expires_after[seconds]", rng.choice(["3600", "59", "2592001", "-1", "1e4", "٣٦٠٠"]))]
    if rng.random() < 0.1:
        fields.append((odd_string(rng), "x"))
    parts = [b'--fz\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
             % (name.encode("utf-8", "surrogatepass"), value.encode("utf-8", "surrogatepass"))
             for name, value in fields]
    filename = rng.choice(["in.jsonl", "données.jsonl", "", 'a"b.txt', "x" * 600])
    file_part = (b'--fz\r\nContent-Disposition: form-data; name="file"; filename="%s"\r\n'
                 b"Content-Type: application/jsonl\r\n\r\n%s\r\n" % (filename.encode(), _file_bytes(rng)))
    parts.insert(rng.choice([0, len(parts)]), file_part)
    body = b"".join(parts) + b"--fz--\r\n"
    if rng.random() < 0.15:
        body = body[: rng.randrange(len(body))]
    ctype = rng.choice(["multipart/form-data; boundary=fz"] * 8 + ["multipart/form-data", "text/plain"])
    return Case("POST /v1/files", "POST", "/v1/files", json=None, body=body, content_type=ctype)


def _file_ref(rng: random.Random, pool: Pool) -> str:
    odd = ["file-" + "0" * 24, "file-", "x" * 300, "%00",
           quote(odd_string(rng).encode("utf-8", "surrogatepass"), safe="")]
    return pool.pick(rng, pool.file_ids, rng.choice(odd))  # ids the gateway made need no quoting


def _file_route(method: str, suffix: str = "") -> Builder:
    def build(rng: random.Random, pool: Pool) -> Case:
        route = f"{method} /v1/files/{{file_id}}{suffix}"
        return Case(route, method, "/v1/files/" + _file_ref(rng, pool) + suffix, json=None, content_type=None)
    return build


SHAPES: dict[str, Builder] = {
    "POST /v1/chat/completions": chat,
    "POST /v1/embeddings": embeddings,
    "GET /v1/models": list_models,
    "GET /v1/models/{model:path}": get_model,
    "POST /v1/feedback": feedback,
    "GET /admin/whoami": _get("/admin/whoami", "/admin/whoami", ["", "x=1"]),
    "GET /admin/keys": list_keys,
    "POST /admin/keys": create_key,
    "DELETE /admin/keys/{key_id}": revoke_key,
    "GET /admin/policy-events": policy_events,
    "GET /admin/feedback": _get("/admin/feedback", "/admin/feedback",
                                ["", "limit=5", "rating=down", "since=1h", "team=t", "rating=x", "x=1"]),
    "GET /admin/audit": _get("/admin/audit", "/admin/audit",
                             ["", "limit=5", "action=key.create", "since=1h", "limit=0", "since=x"]),
    "POST /admin/pii/scan": pii_scan,
    "POST /admin/erasure": erasure,
    "GET /admin/golden": list_golden,
    "POST /admin/golden": create_golden,
    "DELETE /admin/golden/{golden_id}": delete_golden,
    "GET /dashboard": _get("/dashboard", "/dashboard", ["", "key=abc"], auth=None),
    "GET /dashboard/{asset}": dashboard_asset,
    "GET /admin/dashboard/summary": _get("/admin/dashboard/summary", "/admin/dashboard/summary",
                                         ["", "since=1h", "since=7d"]),
    "GET /admin/dashboard/timeseries": _get("/admin/dashboard/timeseries", "/admin/dashboard/timeseries",
                                            ["", "since=1h&bucket=60", "bucket=1", "since=2d&bucket=86400"]),
    "GET /admin/dashboard/cost": _get("/admin/dashboard/cost", "/admin/dashboard/cost",
                                      ["", "days=1", "days=366"]),
    "GET /admin/dashboard/cost-plan": _get("/admin/dashboard/cost-plan", "/admin/dashboard/cost-plan",
                                           ["", "since=30d", "since=1h&route=sim", "since=x"]),
    "GET /admin/dashboard/budgets": _get("/admin/dashboard/budgets", "/admin/dashboard/budgets", ["", "x=1"]),
    "GET /admin/requests": _get("/admin/requests", "/admin/requests",
                                ["", "limit=5", "q=sim", "status=error&team=blue", "route=sim&since=1h"]),
    "GET /admin/requests/{request_id}": get_request,
    "GET /admin/alerts": _get("/admin/alerts", "/admin/alerts", [""]),
    "GET /admin/governance/document": _get("/admin/governance/document", "/admin/governance/document",
                                          ["", "format=md", "format=html", "format=pdf", "format=docx"]),
    "GET /metrics": _get("/metrics", "/metrics", [""]),
    "GET /healthz": _get("/healthz", "/healthz", [""], auth=None),
    "GET /readyz": _get("/readyz", "/readyz", [""], auth=None),
    "GET /openapi.json": _get("/openapi.json", "/openapi.json", ["", "x=1"], auth=None),
    "POST /v1/files": upload_file,
    "GET /v1/files": _get("/v1/files", "/v1/files", ["", "limit=2", "order=asc&limit=1", "purpose=batch",
                                                     "after=file-x", "limit=0", "order=up"],
                          auth="inference"),
    "GET /v1/files/{file_id}": _file_route("GET"),
    "DELETE /v1/files/{file_id}": _file_route("DELETE"),
    "GET /v1/files/{file_id}/content": _file_route("GET", "/content"),
}
#: Fuzzing effort per route (default 1): the inference routes carry the most parsing.
WEIGHTS = {"POST /v1/chat/completions": 8, "POST /v1/embeddings": 3, "POST /v1/feedback": 2,
           "POST /admin/keys": 2, "POST /admin/golden": 2, "POST /admin/pii/scan": 2,
           "GET /admin/policy-events": 2, "GET /admin/requests": 2, "GET /admin/dashboard/timeseries": 2,
           "POST /v1/files": 3}


#: Fields with one JSON type in the OpenAI API (or Corral's docs): a 2xx answer to a body where
#: one holds another type (or an integer past int64) means invalid input was let through.
#: "?" marks an optional field that may also be null.
TYPED: dict[str, dict[str, str]] = {
    "POST /v1/chat/completions": {
        "model": "str", "stream": "bool?", "max_tokens": "int?", "max_completion_tokens": "int?",
        "temperature": "number?", "top_p": "number?", "seed": "int?", "user": "str?", "n": "int?",
        "parallel_tool_calls": "bool?"},
    "POST /v1/embeddings": {"model": "str", "dimensions": "int?", "user": "str?", "encoding_format": "str?"},
    "POST /v1/feedback": {"rating": "str?", "score": "number?", "comment": "str?", "correction": "str?"},
    "POST /admin/keys": {"name": "str", "team": "str?"},
    "POST /admin/golden": {"route": "str", "question": "str", "answer": "str"},
    "POST /admin/pii/scan": {"text": "str", "show_values": "bool?"},
}


def type_violation(case: Case) -> str | None:
    """The first typed field of the case's body that a correct server must refuse, if any."""
    fields = TYPED.get(case.route)
    if not fields or not isinstance(case.json, dict) or case.method != case.route.split()[0]:
        return None
    for name, kind in fields.items():
        if name not in case.json:
            if not kind.endswith("?"):
                return f"required field {name!r} is missing"
            continue
        value = case.json[name]
        if value is None and kind.endswith("?"):
            continue
        base = kind.rstrip("?")
        ok = {"str": isinstance(value, str), "bool": isinstance(value, bool),
              "int": isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63,
              "number": isinstance(value, int | float) and not isinstance(value, bool)
              and -(2**63) <= value < 2**63}[base]
        if not ok:
            return f"{name!r} should be {kind} but was {str(value)[:60]!r}"
    return None


def free_form(rng: random.Random) -> Any:
    """A value for a hotspot: schemas and arguments are where arbitrary JSON is allowed."""
    return odd_schema(rng)


# Shapes kept in modules of their own build on this one, so they join SHAPES last.
from tests.fuzz.batch_shapes import BATCH_SHAPES  # noqa: E402
from tests.fuzz.incident_shapes import INCIDENT_SHAPES  # noqa: E402
from tests.fuzz.message_shapes import MESSAGE_SHAPES, MESSAGE_TYPED, MESSAGE_WEIGHTS  # noqa: E402
from tests.fuzz.passthrough_shapes import (  # noqa: E402
    PASSTHROUGH_SHAPES,
    PASSTHROUGH_TYPED,
    PASSTHROUGH_WEIGHTS,
)
from tests.fuzz.prompt_shapes import PROMPT_SHAPES  # noqa: E402
from tests.fuzz.response_shapes import RESPONSE_SHAPES, RESPONSE_TYPED, RESPONSE_WEIGHTS  # noqa: E402
from tests.fuzz.vector_store_shapes import VECTOR_STORE_SHAPES  # noqa: E402

SHAPES.update(BATCH_SHAPES)
SHAPES.update(INCIDENT_SHAPES)
SHAPES.update(MESSAGE_SHAPES)
SHAPES.update(PASSTHROUGH_SHAPES)
SHAPES.update(PROMPT_SHAPES)
SHAPES.update(RESPONSE_SHAPES)
SHAPES.update(VECTOR_STORE_SHAPES)
WEIGHTS.update(RESPONSE_WEIGHTS)
WEIGHTS.update(MESSAGE_WEIGHTS)
WEIGHTS.update(PASSTHROUGH_WEIGHTS)
TYPED.update(RESPONSE_TYPED)
TYPED.update(MESSAGE_TYPED)
TYPED.update(PASSTHROUGH_TYPED)
