"""``GET /openapi.json`` (no key): an OpenAPI 3.1 description of every route Corral serves.

Built once from the table in corral.api.openapi_paths. It describes what each operation needs
(the permission, parameters, the body in a line) rather than every schema: the OpenAI-standard
operations point at OpenAI's own published description for their request and answer shapes.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from corral import __version__
from corral.api.openapi_paths import ANY_KEY, AREAS, PUBLIC, Op
from corral.api.responses import json_response

PATH = "/openapi.json"
OPENAI_SPEC = "https://github.com/openai/openai-openapi"
_PARAM = re.compile(r"{(\w+)}")
_KEYED: list[dict[str, list[str]]] = [{"bearer": []}, {"xApiKey": []}, {"apiKey": []}]

_ERROR = {
    "type": "object",
    "description": "OpenAI's error shape, for every error Corral answers (docs/api.md, Errors).",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["message", "type", "param", "code"],
        "properties": {
            "message": {"type": "string", "description": "What went wrong and what to do."},
            "type": {"type": "string", "examples": ["invalid_request_error", "authentication_error"]},
            "param": {"type": ["string", "null"], "description": "The field or parameter at fault."},
            "code": {"type": ["string", "null"]},
        },
    }},
}

_ANTHROPIC_ERROR = {
    "type": "object",
    "description": "Anthropic's error shape, for the Messages API endpoints (docs/anthropic.md).",
    "required": ["type", "error"],
    "properties": {
        "type": {"const": "error"},
        "error": {"type": "object", "required": ["type", "message"], "properties": {
            "type": {"type": "string", "examples": ["invalid_request_error", "not_found_error"]},
            "message": {"type": "string"}}},
        "request_id": {"type": "string"},
    },
}

_COMPONENTS = {
    "securitySchemes": {
        "bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer sk-corral-..."},
        "xApiKey": {"type": "apiKey", "in": "header", "name": "x-api-key",
                    "description": "The key alone, as Anthropic's SDKs send it."},
        "apiKey": {"type": "apiKey", "in": "header", "name": "api-key",
                   "description": "The key alone, as Azure OpenAI clients send it."},
    },
    "schemas": {"Error": _ERROR, "AnthropicError": _ANTHROPIC_ERROR},
    "responses": {
        "Error": {"description": "An error in OpenAI's shape.",
                  "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        "AnthropicError": {"description": "An error in Anthropic's shape (docs/anthropic.md).", "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/AnthropicError"}}}},
    },
}


def _who(permission: str) -> str:
    if permission == PUBLIC:
        return "No key needed."
    if permission == ANY_KEY:
        return "Any valid key."
    return f"Needs a key whose roles grant `{permission}` (docs/roles.md)."


def _parameters(op: Op) -> list[dict[str, Any]]:
    path = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _PARAM.findall(op.path)]
    query = [{"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
             for name in op.query]
    return path + query


def _body(op: Op) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "description": op.body}
    if op.schema:
        schema["description"] = f"{op.body}. The full shape: `{op.schema}` in {OPENAI_SPEC}."
    elif op.own and not op.form:
        schema["description"] = f"{op.body}. Unknown fields are refused with a 400 naming them."
    media = "multipart/form-data" if op.form else "application/json"
    return {"required": True, "content": {media: {"schema": schema}}}


def operation(tag: str, op: Op) -> dict[str, Any]:
    """One operation object: who may call it, what it reads, and the error shape."""
    description = _who(op.permission)
    if op.openai:
        description += f" Follows OpenAI's `{op.openai}` operation ({OPENAI_SPEC})."
    out: dict[str, Any] = {
        "tags": [tag],
        "summary": op.summary,
        "description": description,
        "operationId": op.method.lower() + re.sub(r"\W+", "_", op.path).rstrip("_"),
        "x-corral-permission": op.permission or None,
        "security": [] if op.permission == PUBLIC else _KEYED,
        "responses": {"2XX": {"description": "Success."},
                      "default": {"$ref": "#/components/responses/" + (
                          "AnthropicError" if op.path.startswith("/v1/messages") else "Error")}},
    }
    if parameters := _parameters(op):
        out["parameters"] = parameters
    if op.body is not None:
        out["requestBody"] = _body(op)
    return out


@cache
def document() -> dict[str, Any]:
    """The whole description; built on first use (the table never changes while running)."""
    paths: dict[str, dict[str, Any]] = {}
    for tag, ops in AREAS:
        for op in ops:
            paths.setdefault(op.path, {})[op.method.lower()] = operation(tag, op)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Corral", "version": __version__,
                 "description": "An LLM gateway: OpenAI- and Anthropic-compatible inference behind keys, "
                                "roles, privacy policies and records. Prose reference: docs/api.md."},
        "tags": [{"name": tag} for tag, _ in AREAS],
        "security": _KEYED,
        "paths": paths,
        "components": _COMPONENTS,
    }


async def openapi_json(request: Request) -> Response:
    """No key: the description says what each route needs, nothing about the deployment."""
    return json_response(document())
