"""Send fuzz cases over a real socket with a deadline, and judge each answer.

Why httpcore rather than httpx: httpx normalizes paths (dot segments, percent-encoding) and
would never send ``/admin/keys/%ZZ`` or ``/v1/x/../x`` as written; httpcore writes the target
and headers as given. Requests go one at a time so a server-side log line belongs to the
request in flight, and so a seed replays the same sequence.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpcore
import orjson

from tests.fuzz.gateway import FLAKY_ROUTE, Target
from tests.fuzz.message_shapes import ANTHROPIC_ROUTES
from tests.fuzz.shapes import Case, type_violation

#: Upstream-caused statuses, legitimate only on the route whose upstream faults on purpose.
UPSTREAM_STATUSES = frozenset({502, 503, 504})
UPSTREAM_TYPES = frozenset({"upstream_error", "timeout_error", "service_unavailable"})
ANTHROPIC_UPSTREAM = frozenset({"api_error", "overloaded_error"})  # Anthropic's names for them
MAX_READ = 16 * 1024 * 1024


@dataclass
class Outcome:
    status: int | None  # None: no answer (timeout or connection dropped)
    headers: dict[str, str]
    body: bytes
    elapsed: float
    error: str | None = None  # "hang: ..." or "dropped: ..." when status is None
    logs: list[str] = field(default_factory=list)  # errors the gateway logged meanwhile


@dataclass
class Failure:
    kind: str  # 5xx | upstream-5xx | hang | dropped | shape | sse | accepted | logged | healthz
    cause: str  # grouping key: the server-side exception if one was logged, else the answer
    index: int
    case: Case
    outcome: Outcome


class LogTap(logging.Handler):
    """Collects warnings and errors logged by the gateway and uvicorn (server thread)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self._lock = threading.Lock()
        self._lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith(("corral", "uvicorn")):
            return
        line = record.getMessage()[:400]
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            tb = exc.__traceback__
            while tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
            where = f"{tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}" if tb else "?"
            line = f"{type(exc).__name__} at {where}: {str(exc)[:160]} ({line[:120]})"
        with self._lock:
            self._lines.append(line)

    def drain(self) -> list[str]:
        with self._lock:
            lines, self._lines = self._lines, []
        return lines


def _enc(text: str) -> bytes:
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def request_headers(case: Case, target: Target) -> list[tuple[str, str]]:
    """The headers the case sends, in order (key roles resolved to raw keys)."""
    headers: list[tuple[str, str]] = []
    if not any(name == "host" for name, _ in case.headers):
        headers.append(("host", f"{target.host}:{target.port}"))
    key = target.keys.get(case.auth or "")
    if case.auth_style.startswith("raw:"):
        headers.append(("authorization", case.auth_style[4:]))
    elif key is not None:
        name, value = {"bearer": ("authorization", f"Bearer {key}"),
                       "lower-bearer": ("authorization", f"bearer {key}"),
                       "x-api-key": ("x-api-key", key), "api-key": ("api-key", key)}[case.auth_style]
        headers.append((name, value))
    if case.content_type is not None and case.body:
        headers.append(("content-type", case.content_type))
    headers.extend(case.headers)
    headers.append(("content-length", str(len(case.body or b""))))
    return headers


def send(client: httpcore.ConnectionPool, target: Target, case: Case, request_id: str,
         timeout: float, tap: LogTap) -> Outcome:
    """Send one case; a request that takes longer than `timeout` in all is a hang."""
    tap.drain()
    headers = [(_enc(k), _enc(v)) for k, v in request_headers(case, target)]
    if not any(k == b"x-request-id" for k, _ in headers):
        headers.append((b"x-request-id", request_id.encode()))
    path = case.path + ("?" + case.query if case.query else "")
    url = httpcore.URL(scheme=b"http", host=target.host.encode(), port=target.port, target=_enc(path))
    ext = {"timeout": {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}}
    start = time.monotonic()
    try:
        with client.stream(_enc(case.method), url, headers=headers, content=case.body or b"",
                           extensions=ext) as response:
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_stream():
                chunks.append(chunk)
                size += len(chunk)
                if time.monotonic() - start > timeout:
                    raise httpcore.ReadTimeout("the answer was still streaming at the deadline")
                if size > MAX_READ:
                    break
            heads = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in response.headers}
            return Outcome(response.status, heads, b"".join(chunks), time.monotonic() - start,
                           logs=tap.drain())
    except httpcore.TimeoutException as exc:
        error = f"hang: no complete answer within {timeout}s ({type(exc).__name__})"
    except httpcore.LocalProtocolError as exc:
        return Outcome(-1, {}, b"", 0.0, error=f"unsendable: {exc}")  # h11 refused to write it
    except (httpcore.NetworkError, httpcore.RemoteProtocolError) as exc:
        error = f"dropped: {type(exc).__name__}: {exc}"
    return Outcome(None, {}, b"", time.monotonic() - start, error=error, logs=tap.drain())


def _error_shape(body: bytes, anthropic: bool = False) -> str | None:
    """None if `body` is the OpenAI error object (`anthropic`: Anthropic's), else what is wrong."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return f"error body is not JSON: {body[:120]!r}"
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict):
        return f"no 'error' object: {body[:120]!r}"
    if not isinstance(err.get("message"), str) or not isinstance(err.get("type"), str):
        return f"'error.message' and 'error.type' must be strings: {body[:120]!r}"
    if anthropic:
        return None if data.get("type") == "error" else f"no top-level type 'error': {body[:120]!r}"
    if "param" not in err or "code" not in err:
        return f"'error.param' and 'error.code' must be present: {body[:120]!r}"
    return None


#: The Responses API's and the Messages API's last events (they send no [DONE]).
RESPONSE_ENDS = frozenset({"response.completed", "response.incomplete", "response.failed", "message_stop"})


def _sse_problem(body: bytes) -> str | None:
    """None if every event is JSON with well-formed errors and the stream is terminated
    (chat: [DONE] or an error event; responses: response.completed/incomplete/failed)."""
    ended = False
    for event in body.split(b"\n\n"):
        if event.startswith(b"event: "):  # the Responses API names each event on its own line
            event = event.partition(b"\n")[2]
        if not event.startswith(b"data: "):
            continue
        data = event[6:]
        if data == b"[DONE]":
            ended = True
            continue
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError:
            return f"event is not JSON: {data[:120]!r}"
        if isinstance(parsed, dict) and parsed.get("type") in RESPONSE_ENDS:
            ended = True
        elif isinstance(parsed, dict) and parsed.get("type") == "error" and "error" in parsed:
            ended = True  # Anthropic's in-stream error
            if (problem := _error_shape(data, anthropic=True)) is not None:
                return "in-stream " + problem
        elif isinstance(parsed, dict) and parsed.get("type") == "error":
            if not isinstance(parsed.get("message"), str) or "code" not in parsed or "param" not in parsed:
                return f"in-stream error event lacks message, code or param: {data[:120]!r}"
        elif isinstance(parsed, dict) and "error" in parsed:
            ended = True
            if (problem := _error_shape(data)) is not None:
                return "in-stream " + problem
    return None if ended else "stream ended with neither [DONE] nor an error event"


def _sent_model(case: Case) -> Any:
    """The model the body names: a JSON body's `model`; a form's, as its builder chose it."""
    if isinstance(case.json, dict):
        return case.json.get("model")
    return case.model if case.body is not None else None


def judge(case: Case, out: Outcome) -> tuple[str, str] | None:
    """(kind, detail) of the first problem with this answer, or None if it is acceptable."""
    if out.status is None:
        return ("hang" if (out.error or "").startswith("hang") else "dropped"), out.error or ""
    if out.status < 0:
        return None
    ctype = out.headers.get("content-type", "")
    is_error = out.status >= 400
    anthropic = case.route in ANTHROPIC_ROUTES and case.method == "POST" and case.route.endswith(case.path)
    shape = _error_shape(out.body, anthropic) if is_error and case.method != "HEAD" else None
    if out.status >= 500:
        err = orjson.loads(out.body).get("error", {}) if shape is None else {}
        upstream = out.status in UPSTREAM_STATUSES and err.get("type") in UPSTREAM_TYPES | ANTHROPIC_UPSTREAM
        if not upstream or out.status == 500:
            return "5xx", f"{out.status} {err.get('message', out.body[:160])}"
        if _sent_model(case) != FLAKY_ROUTE:
            return "upstream-5xx", f"{out.status} on a route without faults: {err.get('message')}"
    if shape is not None:
        return "shape", f"{out.status} {shape}"
    if out.status == 200 and ctype.startswith("text/event-stream"):
        if (problem := _sse_problem(out.body)) is not None:
            return "sse", problem
    elif out.status < 300 and ctype.startswith("application/json") and case.method != "HEAD":
        try:
            orjson.loads(out.body)
        except orjson.JSONDecodeError:
            return "shape", f"{out.status} JSON answer does not parse: {out.body[:120]!r}"
    if 200 <= out.status < 300 and (wrong := type_violation(case)) is not None:
        return "accepted", f"{out.status} for invalid input: {wrong}"
    if out.logs:
        return "logged", out.logs[0]
    return None


def cause_of(kind: str, detail: str, case: Case, out: Outcome) -> str:
    """A grouping key: the logged exception when there is one, else the route and answer."""
    if out.logs:
        return f"{kind}: {out.logs[0][:200]}"
    if kind == "accepted":
        return f"accepted: {case.route}: {detail.split(' but was')[0]}"
    msg = detail
    if out.status is not None and out.status >= 400:
        try:
            err = orjson.loads(out.body)["error"]
            msg = f"{out.status} {err.get('type')}/{err.get('code')}"
        except (orjson.JSONDecodeError, KeyError, TypeError):
            pass
    return f"{kind}: {case.method} {case.route}: {msg[:160]}"


def check_health(client: httpcore.ConnectionPool, target: Target, tap: LogTap) -> str | None:
    """None while /healthz answers 200 quickly, else what went wrong."""
    probe = Case("GET /healthz", "GET", "/healthz", json=None, body=b"", content_type=None, auth=None)
    out = send(client, target, probe, "fuzz-healthz", 3.0, tap)
    if out.status != 200:
        return f"/healthz answered {out.status} ({out.error or out.body[:80]!r})"
    return None
