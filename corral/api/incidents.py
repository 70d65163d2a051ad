"""The review queue: ``/admin/incidents`` (docs/incidents.md).

``GET /admin/incidents`` (``incidents.read``): newest first; filters ``state``, ``severity``,
``category``, ``since`` (ISO time or span), ``limit`` (1-1000). ``GET /admin/incidents/stats``:
counts and time to triage (median, p90) over ``since`` (default 30d). ``GET
/admin/incidents/{id}``: the incident with its notes, its audit history and the request it
names as stored (content only as captured and redacted by the privacy stage).
``PATCH /admin/incidents/{id}`` (``incidents.manage``): state, assignee, severity, note.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from corral.api import input_rules
from corral.api.auth import authenticate, read_body
from corral.api.params import int_param, path_text, since_param, text_param
from corral.api.responses import json_response
from corral.api.wire import parse_json_object
from corral.core.context import Caller
from corral.core.errors import NotFound
from corral.incidents.model import CATEGORIES, POLICY_CATEGORY, SEVERITIES, STATES, Incident, choice
from corral.incidents.review import apply_change, parse_change
from corral.incidents.store import MAX_LIMIT, IncidentStore
from corral.incidents.wiring import maybe_escalate
from corral.observe import queries
from corral.store.schema import audit_log

MAX_BODY_BYTES = 64 * 1024


def _filter(request: Request, name: str, allowed: tuple[str, ...]) -> str | None:
    value = text_param(request, name)
    return None if value is None else choice(value, allowed, name)


async def list_incidents(request: Request) -> Response:
    await authenticate(request, "incidents.read")
    found = await IncidentStore(request.app.state.gateway.db).list(
        state=_filter(request, "state", STATES), severity=_filter(request, "severity", SEVERITIES),
        category=_filter(request, "category", (*CATEGORIES, POLICY_CATEGORY)),
        since=since_param(request), limit=int_param(request, "limit", 100, 1, MAX_LIMIT))
    return json_response({"object": "list", "data": [i.to_dict() for i in found]})


async def incident_stats(request: Request) -> Response:
    await authenticate(request, "incidents.read")
    stats = await IncidentStore(request.app.state.gateway.db).stats(since_param(request, "30d"))
    return json_response(stats)


async def _history(db: Any, incident_id: str) -> list[dict[str, Any]]:
    rows = await db.fetch_all(select(audit_log).where(audit_log.c.target == incident_id)
                              .order_by(audit_log.c.id).limit(200))
    return [{"at": r["at"].isoformat(), "actor": r["actor"], "actor_name": r["actor_name"],
             "action": r["action"], "before": r["before"], "after": r["after"]} for r in rows]


async def get_incident(request: Request) -> Response:
    await authenticate(request, "incidents.read")
    db = request.app.state.gateway.db
    incident_id = path_text(request, "incident_id")
    incident = await IncidentStore(db).get(incident_id)
    if incident is None:
        raise NotFound(f"No incident {incident_id!r}. List them with GET /admin/incidents.")
    record = await queries.get(db, incident.request_id) if incident.request_id else None
    body = incident.to_dict()
    body["notes"] = await IncidentStore(db).notes(incident.id)
    body["history"] = await _history(db, incident.id)
    body["request"] = None if record is None else {f"{k}": v for k, v in record.items()}
    return json_response(body)


async def update_incident(request: Request) -> Response:
    caller = await authenticate(request, "incidents.manage")
    gateway = request.app.state.gateway
    change = parse_change(parse_json_object(await read_body(request, MAX_BODY_BYTES)))

    async def storable(incident: Incident, text: str) -> str:
        return await private_text(gateway, caller, incident, text)

    before, after = await apply_change(gateway.db, path_text(request, "incident_id"), change,
                                       actor=caller.key_id, actor_name=caller.key_name, store_note=storable)
    if "severity" in change.values and after.severity != before.severity:
        await maybe_escalate(gateway, after)
    return json_response(after.to_dict())


async def private_text(gateway: Any, caller: Caller, incident: Incident, text: str) -> str:
    """A note as the incident's request's privacy policy allows storing it (as feedback is)."""
    privacy = gateway.privacy
    if privacy is None:
        return text
    if incident.route:
        policy = privacy.policy_for(incident.route, None)  # the route's policy, not the reviewer key's
    else:
        policy = privacy.strictest_policy(list(gateway.routes.routes), None)
    return str((await privacy.storable(policy, [text]))[0])


ROUTES = [
    Route("/admin/incidents", list_incidents, methods=["GET"]),
    Route("/admin/incidents/stats", incident_stats, methods=["GET"]),
    Route("/admin/incidents/{incident_id}", get_incident, methods=["GET"]),
    Route("/admin/incidents/{incident_id}", update_incident, methods=["PATCH"]),
    Route("/admin/input-rules", input_rules.list_rules, methods=["GET"]),
    Route("/admin/input-rules", input_rules.create_rule, methods=["POST"]),
    Route("/admin/input-rules/suggest", input_rules.suggest_rules, methods=["POST"]),
    Route("/admin/input-rules/{rule_id}", input_rules.retire_rule, methods=["DELETE"]),
]
