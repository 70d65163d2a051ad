"""Input rules: ``/admin/input-rules`` (docs/incidents.md, "Input rules").

``GET`` (``incidents.read``; ``include_retired=true`` for retired ones too), ``POST``
(``input_rules.manage``): ``pattern``, ``kind`` (literal | regex, default literal), ``action``
(flag | block, default flag), optional ``route``, ``team``, ``note``, and where it came from
(``from_incident`` or ``from_policy_events``). ``POST /admin/input-rules/suggest`` proposes
literals from ``policy_event_ids`` or an ``incident_id``; ``DELETE /admin/input-rules/{id}``
retires a rule. Creating and retiring are audited (``input_rule.create``, ``input_rule.retire``).
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response

from corral.api.auth import authenticate, read_body
from corral.api.params import check_text, path_text
from corral.api.responses import json_response
from corral.api.wire import parse_json_object, refuse_unknown_fields
from corral.core.errors import InvalidRequest, NotFound
from corral.governance.audit import AuditLog
from corral.incidents.model import POLICY_CATEGORY, choice
from corral.incidents.rules import ACTIONS, RuleStore, compile_rule
from corral.incidents.store import IncidentStore
from corral.incidents.suggest import suggest
from corral.observe import queries
from corral.store.schema import policy_events

MAX_BODY_BYTES = 64 * 1024
MAX_EVENT_IDS = 500
CREATE_FIELDS = ("pattern", "kind", "action", "route", "team", "note", "from_incident", "from_policy_events")
SUGGEST_FIELDS = ("policy_event_ids", "incident_id", "limit")


def _optional(data: dict[str, Any], name: str, limit: int = 200) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidRequest(f"'{name}' must be a string of at most {limit} characters.", param=name)
    return check_text(value.strip() or None, name)


def _event_ids(value: Any, name: str) -> list[int]:
    if (not isinstance(value, list) or not value or len(value) > MAX_EVENT_IDS
            or not all(isinstance(i, int) and not isinstance(i, bool) and 0 < i < 2**63 for i in value)):
        raise InvalidRequest(f"'{name}' must be a list of 1 to {MAX_EVENT_IDS} policy event ids "
                             "(whole numbers, from GET /admin/policy-events).", param=name)
    return sorted(set(value))


def _cache(request: Request) -> Any:
    for stage in getattr(getattr(request.app.state.gateway, "pipeline", None), "stages", ()):
        if getattr(stage, "name", None) == "input_rules":
            return stage.cache
    return None


async def list_rules(request: Request) -> Response:
    await authenticate(request, "incidents.read")
    retired = request.query_params.get("include_retired", "") in ("1", "true")
    rules = await RuleStore(request.app.state.gateway.db).list(include_retired=retired)
    return json_response({"object": "list", "data": [r.to_dict() for r in rules]})


async def create_rule(request: Request) -> Response:
    caller = await authenticate(request, "input_rules.manage")
    data = parse_json_object(await read_body(request, MAX_BODY_BYTES))
    refuse_unknown_fields(data, CREATE_FIELDS)
    kind = data.get("kind", "literal")
    compile_rule(data.get("pattern"), kind)  # 400 when invalid or catastrophic
    action = choice(data.get("action", "flag"), ACTIONS, "action")
    source = None
    if data.get("from_incident") is not None:
        source = "incident:" + (_optional(data, "from_incident", 40) or "")
    elif data.get("from_policy_events") is not None:
        source = "policy_events:" + ",".join(map(str, _event_ids(data["from_policy_events"],
                                                                 "from_policy_events")))[:580]
    db = request.app.state.gateway.db
    rule = await RuleStore(db).create(
        pattern=data["pattern"], kind=kind, action=action, created_by=caller.key_id,
        route=_optional(data, "route"), team=_optional(data, "team"), note=_optional(data, "note", 2000),
        source=source)
    await AuditLog(db).append(caller.key_id, "input_rule.create", rule.id, after=rule.to_dict(),
                              actor_name=caller.key_name)
    cache = _cache(request)
    if cache is not None:
        cache.invalidate()
    return json_response(rule.to_dict(), status_code=201)


async def retire_rule(request: Request) -> Response:
    caller = await authenticate(request, "input_rules.manage")
    db = request.app.state.gateway.db
    rule_id = path_text(request, "rule_id")
    store = RuleStore(db)
    rule = await store.get(rule_id)
    if rule is None:
        raise NotFound(f"No input rule {rule_id!r}. List them with GET /admin/input-rules.")
    if rule.enabled:
        await store.retire(rule_id, caller.key_id)
        await AuditLog(db).append(caller.key_id, "input_rule.retire", rule_id, before=rule.to_dict(),
                                  actor_name=caller.key_name)
    cache = _cache(request)
    if cache is not None:
        cache.invalidate()
    retired = await store.get(rule_id)
    return json_response({**(retired or rule).to_dict(), "deleted": True})


async def suggest_rules(request: Request) -> Response:
    await authenticate(request, "input_rules.manage")
    data = parse_json_object(await read_body(request, MAX_BODY_BYTES))
    refuse_unknown_fields(data, SUGGEST_FIELDS)
    db = request.app.state.gateway.db
    if data.get("policy_event_ids") is not None:
        ids = _event_ids(data["policy_event_ids"], "policy_event_ids")
        rows = await db.fetch_all(select(policy_events.c.prompt_excerpt).where(policy_events.c.id.in_(ids)))
        texts = [r["prompt_excerpt"] for r in rows if r["prompt_excerpt"]]
    elif data.get("incident_id") is not None:
        texts = await _incident_texts(db, _optional(data, "incident_id", 40) or "")
    else:
        raise InvalidRequest("Send 'policy_event_ids' (a list of ids) or 'incident_id'.",
                             param="policy_event_ids")
    limit = data.get("limit", 5)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 20:
        raise InvalidRequest("'limit' must be a whole number from 1 to 20.", param="limit")
    return json_response({"object": "list", "texts": len(texts), "data": suggest(texts, limit)})


async def _incident_texts(db: Any, incident_id: str) -> list[str]:
    """The stored (redacted) prompts behind an incident: its events, or its request's capture."""
    incident = await IncidentStore(db).get(incident_id)
    if incident is None:
        raise NotFound(f"No incident {incident_id!r}. List them with GET /admin/incidents.")
    if incident.category == POLICY_CATEGORY:
        query = select(policy_events.c.prompt_excerpt).where(
            policy_events.c.route == incident.route, policy_events.c.category == incident.detail,
            policy_events.c.prompt_excerpt.is_not(None))
        if incident.team is not None:
            query = query.where(policy_events.c.team == incident.team)
        rows = await db.fetch_all(query.order_by(policy_events.c.id.desc()).limit(MAX_EVENT_IDS))
        return [r["prompt_excerpt"] for r in rows]
    record = await queries.get(db, incident.request_id) if incident.request_id else None
    return _user_texts((record or {}).get("prompt"))


def _user_texts(prompt: Any) -> list[str]:
    """User messages of a captured prompt (JSON messages, or plain text)."""
    if isinstance(prompt, str):
        try:
            prompt = orjson.loads(prompt)
        except orjson.JSONDecodeError:
            return [prompt]
    if isinstance(prompt, dict):
        prompt = prompt.get("messages")
    if not isinstance(prompt, list):
        return []
    return [str(m.get("content")) for m in prompt
            if isinstance(m, dict) and m.get("role") == "user" and m.get("content")]
