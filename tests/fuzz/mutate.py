"""Mutations: turn a valid-looking `Case` into the request a careless or hostile client sends.

A case gets 0-3 mutations drawn from the seeded `random.Random`; each appends a note so a
failure report says what was done. Body mutations work on the JSON tree where they can
(so the rest stays valid and reaches deep code) and on bytes for framing errors.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from tests.fuzz.jsontext import dumps
from tests.fuzz.shapes import Case, free_form
from tests.fuzz.values import deep, huge_array, odd_number, odd_string, odd_value

ROLES = ["admin", "inference", "blue", "blue_admin", "revoked"]
QUERY_NAMES = ["since", "limit", "bucket", "days", "route", "key_id", "q", "status", "team",
               "include_revoked", "key", "model"]
QUERY_VALUES = ["999999d", "99999999999d", "%C2%B2", "%C2%B9%C2%B2", "-1", "0", "1", "1001",
                "99999999999999999999", "1e3", "", "%FF", "%ZZ", "%00", "1h1h", "+1", "%201", "0d",
                "9" * 400 + "h", "2024-13-45", "9999-12-31T23:59:59%2B14:00", "0001-01-01", "%E2%80%AE",
                "-999999999-01-01", "1s", "24x", "%F0%9F%98%80", "a%5Cb%25c_d", "%27%20OR%201=1--"]
PATH_PARAMS = ["%00", "%ZZ", "%2F", "..", "%2e%2e", "%C0%AF", "%FF", "a" * 5000, "%E2%80%AE",
               "%F0%9F%98%80", "sk-corral-", "%20", "-1", "1e3", "99999999999999999999", "%3Bx"]
HOSTS = ["evil.example", "", "[::1]:99999", "localhost:abc", "a" * 2000, "127.0.0.1:1", "xn--ls8h",
         "h\xe9st", "[fe80::1%25eth0]", "host with space"]
CONTENT_TYPES = [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                 "application/json; charset=latin-1", "application/json; charset=utf-16", "*/*",
                 "application/json, text/plain", "\xff/\xfe"]


def _paths(tree: Any, limit: int = 200) -> list[tuple[Any, ...]]:
    """Every (key/index) path into dicts and lists of `tree`, breadth first."""
    out: list[tuple[Any, ...]] = []
    queue: list[tuple[tuple[Any, ...], Any]] = [((), tree)]
    while queue and len(out) < limit:
        path, node = queue.pop(0)
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for k, v in items:
            out.append((*path, k))
            queue.append(((*path, k), v))
    return out


def _set(tree: Any, path: tuple[Any, ...], value: Any) -> None:
    node = tree
    for k in path[:-1]:
        if isinstance(node, dict):
            node = node.setdefault(k, {})
        elif isinstance(node, list) and isinstance(k, int) and k < len(node):
            node = node[k]
        else:
            return
    if isinstance(node, dict):
        node[path[-1]] = value
    elif isinstance(node, list) and isinstance(path[-1], int) and path[-1] < len(node):
        node[path[-1]] = value


def _get(tree: Any, path: tuple[Any, ...]) -> Any:
    for k in path:
        tree = tree[k]
    return tree


# -- JSON tree mutations ---------------------------------------------------------------------------

def field_odd(rng: random.Random, case: Case) -> str:
    path = rng.choice(_paths(case.json))
    _set(case.json, path, odd_value(rng))
    return f"odd value at {path}"


def field_delete(rng: random.Random, case: Case) -> str:
    path = rng.choice(_paths(case.json))
    parent = _get(case.json, path[:-1])
    del parent[path[-1]]
    return f"deleted {path}"


def unknown_param(rng: random.Random, case: Case) -> str:
    name = rng.choice(["metadata", "logprobs", "store", "functions", odd_string(rng), "__proto__"])
    case.json[name] = odd_value(rng)
    return f"unknown parameter {name!r}"


def hotspot(rng: random.Random, case: Case) -> str:
    path = rng.choice(case.hotspots)
    if path[-1] == "arguments":
        value: Any = rng.choice([deep(rng).text, '{"x": ', "\x00", "x" * 100_000, '{"x":"\\ud800"}', ""])
    elif path[-1] in ("user", "dimensions"):
        value = rng.choice([odd_value(rng), odd_number(rng), 10**9, 100_000])
    elif rng.random() < 0.25:
        value = odd_value(rng)
    else:
        value = free_form(rng)
    _set(case.json, path, value)
    return f"free-form value at {path}"


MAX_HUGE_BYTES = 16 * 1024 * 1024


def huge_list(rng: random.Random, case: Case) -> str:
    lists = [p for p in _paths(case.json) if isinstance(_get(case.json, p), list)]
    if not lists:
        case.json["input"] = huge_array(rng, "x")
        return "huge 'input' array"
    path = rng.choice(lists)
    current = _get(case.json, path)
    many = huge_array(rng, current[0] if current else None)
    # Copies of an already huge item (a deep schema, a list made huge before) would make a body of
    # gigabytes that takes the client a minute to send: keep the whole array under 16 MB.
    each = len(dumps(many[0])) if many else 0
    if each * len(many) > MAX_HUGE_BYTES:
        many = many[: max(1, MAX_HUGE_BYTES // max(1, each))]
    _set(case.json, path, many)
    return f"huge array at {path}"


def root_type(rng: random.Random, case: Case) -> str:
    case.json = rng.choice([[case.json], odd_string(rng), odd_number(rng), None, deep(rng), []])
    return "body root is not an object"


# -- bytes, headers, query, path -------------------------------------------------------------------

def _bytes(case: Case) -> bytes:
    return case.body if case.body is not None else dumps(case.json)


def truncate(rng: random.Random, case: Case) -> str:
    raw = _bytes(case)
    case.body = raw[: rng.randrange(max(1, len(raw)))]
    return "truncated JSON"


def garble(rng: random.Random, case: Case) -> str:
    raw = _bytes(case)
    at = rng.randrange(max(1, len(raw)))
    junk = rng.choice([b"\xff\xfe", b"\xc0\xaf", b"\x00", b"}}}", b"\xef\xbb\xbf", b",,", b"\xed\xa0\x80"])
    case.body = rng.choice([raw[:at] + junk + raw[at:], junk + raw, raw + junk, b"", b"null", b"  \n"])
    return f"garbled bytes {junk!r}"


def utf8_raw(rng: random.Random, case: Case) -> str:
    case.body = dumps(case.json, ascii_only=False)
    return "raw UTF-8 text (lone surrogates as invalid bytes)"


def content_type(rng: random.Random, case: Case) -> str:
    case.content_type = rng.choice(CONTENT_TYPES)
    return f"content-type {case.content_type!r}"


def auth(rng: random.Random, case: Case) -> str:
    pick = rng.randrange(5)
    if pick == 0:
        case.auth = None
    elif pick == 1:
        case.auth = rng.choice(ROLES)
    elif pick == 2:
        case.auth_style = rng.choice(["x-api-key", "api-key", "lower-bearer"])
    else:
        case.auth_style = "raw:" + rng.choice([
            "Bearer ", "Bearer", "Basic dXNlcjpwYXNz", "Bearer sk-corral-" + "A" * 32, "Bearer " + "x" * 9000,
            "Bearer sk-corral-\xe9\xe9", "Bearer  \t ", "Token abc", "Bearer sk-corral-%00", "bearer"])
    return f"auth {case.auth!r} as {case.auth_style!r}"


def host(rng: random.Random, case: Case) -> str:
    case.headers.append(("host", rng.choice(HOSTS)))
    return "odd Host"


def odd_header(rng: random.Random, case: Case) -> str:
    name, value = rng.choice([
        ("x-request-id", "a" * 500), ("x-request-id", "id with space"), ("x-request-id", "\xe9\xe9"),
        ("content-encoding", "gzip"), ("accept", "text/event-stream"), ("x-sim-fault", "hang"),
        ("accept-encoding", "br, gzip;q=abc"), ("x-forwarded-for", "::1, " * 200),
        ("cookie", "a=" + "b" * 4000),
        ("expect", "100-continue"), ("x-corral-team", "blue"), ("content-language", "\xff")])
    case.headers.append((name, value))
    return f"header {name}"


def query(rng: random.Random, case: Case) -> str:
    pairs = [f"{rng.choice(QUERY_NAMES)}={rng.choice(QUERY_VALUES)}" for _ in range(rng.randint(1, 3))]
    if rng.random() < 0.2:
        pairs.append(rng.choice(["&&&==", "limit", "=x", "since=1h&since=999999d", "%", "a" * 3000 + "=1"]))
    case.query = "&".join(p for p in [case.query, *pairs] if p)
    return f"query {case.query[:80]!r}"


def path_param(rng: random.Random, case: Case) -> str:
    if "{" not in case.route:
        return wrong_path(rng, case)
    head = case.path.rsplit("/", 1)[0] if not case.route.endswith(":path}") else "/v1/models"
    case.path = f"{head}/{rng.choice(PATH_PARAMS)}"
    return "odd path parameter"


def wrong_path(rng: random.Random, case: Case) -> str:
    case.path = rng.choice([case.path + "/", case.path.upper(), "/" + case.path, case.path + "%00",
                            case.path + "/x/../x", "/v2" + case.path, case.path + ";x", "/%ZZ",
                            "/" + quote("ü" * 10), "/v1/" + "a/" * 500])
    return "unknown path"


def wrong_method(rng: random.Random, case: Case) -> str:
    case.method = rng.choice(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "TRACE"])
    return f"method {case.method}"


Mutation = Callable[[random.Random, Case], str]
JSON_MUTATIONS: list[Mutation] = [field_odd, field_odd, field_delete, unknown_param, huge_list, root_type]
BYTES_MUTATIONS: list[Mutation] = [truncate, garble, utf8_raw, content_type]
REQUEST_MUTATIONS: list[Mutation] = [
    auth, auth, host, odd_header, query, query, path_param, wrong_path, wrong_method]


def mutate(rng: random.Random, case: Case) -> Case:
    """Apply 0-3 mutations; the returned case has its final `body` bytes."""
    for _ in range(rng.choices([0, 1, 2, 3], weights=[1, 4, 3, 2])[0]):
        if isinstance(case.json, dict) and case.json and case.body is None and rng.random() < 0.6:
            op = rng.choice((case.hotspots and [hotspot, hotspot, *JSON_MUTATIONS]) or JSON_MUTATIONS)
        elif case.json is not None and rng.random() < 0.3:
            op = rng.choice(BYTES_MUTATIONS)
        else:
            op = rng.choice(REQUEST_MUTATIONS)
        case.notes.append(op(rng, case))
    if case.body is None:
        case.body = b"" if case.json is None else dumps(case.json)
    return case
