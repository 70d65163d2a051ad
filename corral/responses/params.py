"""A create request's top-level fields -> the Response object's echo fields.

Every field is checked here and refused with a 400 that names it; nothing is dropped
quietly. What Corral cannot honour gets a 400 that says so (built-in tools, reasoning
summaries, logprobs, stored prompts, conversations); hints that do not change the answer
(`prompt_cache_key`, `service_tier` auto/default, `stream_options`) are accepted. Tools are
`function` tools and one `file_search` tool (corral.responses.file_search).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from corral.core.errors import InvalidRequest
from corral.responses import file_search
from corral.responses.items import normalize_input

MAX_METADATA_KEYS = 16
MAX_METADATA_KEY_CHARS = 64
MAX_METADATA_VALUE_CHARS = 512
MAX_TOOLS = 128
MAX_USER_CHARS = 256  # the record's end_user column
MAX_SAFETY_ID_CHARS = 64
MAX_ID_CHARS = 64
MIN_OUTPUT_TOKENS = 16  # OpenAI's minimum for max_output_tokens
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")

FIELDS = frozenset({
    "model", "input", "instructions", "tools", "tool_choice", "max_output_tokens", "temperature",
    "top_p", "metadata", "store", "previous_response_id", "user", "safety_identifier", "text",
    "stream", "stream_options", "background", "parallel_tool_calls", "truncation", "reasoning",
    "include", "service_tier", "prompt_cache_key", "top_logprobs", "max_tool_calls",
})
# OpenAI fields Corral does not serve, with what to do instead.
UNSUPPORTED = {
    "conversation": "chain turns with 'previous_response_id' instead",
    "prompt": "stored prompt templates are not served; send 'instructions' and 'input'",
    "context_management": "the route's context policy fits long conversations",
    "moderation": "moderation runs as the route's governance policy",
    "prompt_cache_retention": "prompt caching is the provider's; Corral sends no retention policy",
}


@dataclass(slots=True)
class Draft:
    """A validated create request: the Response object's fields so far and its input items."""

    body: dict[str, Any]
    items: list[dict[str, Any]]
    stream: bool
    include_results: bool = False  # include: ["file_search_call.results"]


def parse_create(data: dict[str, Any], response_id: str, created_at: int) -> Draft:
    """Check a create body and shape what the Response object will echo."""
    _refuse_unknown(data)
    model = data.get("model")
    if not isinstance(model, str) or not model or len(model) > 256:
        raise InvalidRequest("'model' is required: the name of a model this gateway serves.", param="model")
    if "input" not in data:
        raise InvalidRequest("'input' is required: a string or a list of input items.", param="input")
    items = normalize_input(data["input"])
    tools = _tools(data.get("tools"))
    store = _bool(data, "store", True)
    background = _bool(data, "background", False)
    stream = _bool(data, "stream", False)
    if background and not store:
        raise InvalidRequest("'background' requires 'store': a background response is kept to be "
                             "polled.", param="background")
    if background and stream:
        raise InvalidRequest("Streaming a background response is not supported by Corral; create it "
                             "without 'stream' and poll GET /v1/responses/{id}.", param="stream")
    body: dict[str, Any] = {
        "id": response_id, "object": "response", "created_at": created_at, "status": "in_progress",
        "background": background, "completed_at": None, "error": None, "incomplete_details": None,
        "instructions": _text(data, "instructions", None), "max_output_tokens": _max_output(data),
        "max_tool_calls": _int(data, "max_tool_calls", 1, 10**6), "model": model, "output": [],
        "parallel_tool_calls": _bool(data, "parallel_tool_calls", True),
        "previous_response_id": _text(data, "previous_response_id", MAX_ID_CHARS),
        "prompt_cache_key": _text(data, "prompt_cache_key", MAX_ID_CHARS),
        "reasoning": _reasoning(data.get("reasoning")), "safety_identifier":
            _text(data, "safety_identifier", MAX_SAFETY_ID_CHARS),
        "service_tier": _service_tier(data.get("service_tier")), "store": store,
        "temperature": _number(data, "temperature", 2.0), "text": _text_config(data.get("text")),
        "tool_choice": _tool_choice(data.get("tool_choice"), tools), "tools": tools,
        "top_logprobs": _top_logprobs(data.get("top_logprobs")), "top_p": _number(data, "top_p", 1.0),
        "truncation": _truncation(data.get("truncation")), "usage": None,
        "user": _text(data, "user", MAX_USER_CHARS), "metadata": _metadata(data.get("metadata")),
    }
    _stream_options(data.get("stream_options"), stream)
    return Draft(body, items, stream, file_search.parse_include(data.get("include")))


def _refuse_unknown(data: dict[str, Any]) -> None:
    for name, instead in UNSUPPORTED.items():
        if data.get(name) is not None:
            raise InvalidRequest(f"'{name}' is not supported by Corral's /v1/responses: {instead}.",
                                 param=name)
    unknown = sorted(k for k in data if k not in FIELDS and k not in UNSUPPORTED)
    if unknown:
        shown = ", ".join(repr(k[:64]) for k in unknown[:10])
        raise InvalidRequest(f"Unrecognized request argument(s): {shown}.", param=unknown[0][:64])


def _bool(data: dict[str, Any], name: str, default: bool) -> bool:
    value = data.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidRequest(f"'{name}' must be true or false.", param=name)
    return value


def _text(data: dict[str, Any], name: str, limit: int | None) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"'{name}' must be a string.", param=name)
    if limit is not None and len(value) > limit:
        raise InvalidRequest(f"'{name}' must be at most {limit} characters.", param=name)
    if "\x00" in value and limit is not None:  # an identifier: no backend compares NULs
        raise InvalidRequest(f"'{name}' contains a NUL character.", param=name)
    return value


def _int(data: dict[str, Any], name: str, low: int, high: int) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidRequest(f"'{name}' must be a whole number from {low} to {high}.", param=name)
    return value


def _max_output(data: dict[str, Any]) -> int | None:
    return _int(data, "max_output_tokens", MIN_OUTPUT_TOKENS, 2**31 - 1)


def _number(data: dict[str, Any], name: str, high: float) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= high:
        raise InvalidRequest(f"'{name}' must be a number from 0 to {high:g}.", param=name)
    return float(value)


def _metadata(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidRequest("'metadata' must be an object of string values.", param="metadata")
    if len(raw) > MAX_METADATA_KEYS:
        raise InvalidRequest(f"'metadata' may hold at most {MAX_METADATA_KEYS} keys; it has {len(raw)}.",
                             param="metadata")
    for key, value in raw.items():
        if len(key) > MAX_METADATA_KEY_CHARS:
            raise InvalidRequest(f"'metadata' keys must be at most {MAX_METADATA_KEY_CHARS} characters; "
                                 f"{key[:20]!r}... has {len(key)}.", param="metadata")
        if not isinstance(value, str) or len(value) > MAX_METADATA_VALUE_CHARS:
            raise InvalidRequest(f"'metadata.{key}' must be a string of at most {MAX_METADATA_VALUE_CHARS} "
                                 "characters.", param=f"metadata.{key}")
    return dict(raw)


def _tools(raw: Any) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_TOOLS:
        raise InvalidRequest(f"'tools' must be a list of at most {MAX_TOOLS} tools.", param="tools")
    tools = [_tool(t, f"tools[{i}]") for i, t in enumerate(raw)]
    searches = [i for i, t in enumerate(tools) if t["type"] == file_search.KIND]
    if len(searches) > 1:
        raise InvalidRequest("At most one 'file_search' tool may be given; list every vector store in its "
                             "'vector_store_ids'.", param=f"tools[{searches[1]}]")
    return tools


def _tool(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise InvalidRequest(f"'{where}' must be an object.", param=where)
    kind = raw.get("type")
    if kind == file_search.KIND:
        return file_search.parse_tool(raw, where)
    if kind != "function":
        shown = kind if isinstance(kind, str) else type(kind).__name__
        raise InvalidRequest(f"Tools of type {str(shown)[:40]!r} are not supported by Corral's "
                             "/v1/responses; only 'function' and 'file_search' tools are.",
                             param=f"{where}.type")
    extra = sorted(set(raw) - {"type", "name", "description", "parameters", "strict"})
    if extra:
        raise InvalidRequest(f"Unrecognized field(s) in a function tool: {', '.join(extra)[:200]}.",
                             param=f"{where}.{extra[0][:64]}")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidRequest("A function tool's 'name' must be 1-64 letters, digits, '_' or '-'.",
                             param=f"{where}.name")
    description, parameters, strict = raw.get("description"), raw.get("parameters"), raw.get("strict")
    if description is not None and not isinstance(description, str):
        raise InvalidRequest("'description' must be a string.", param=f"{where}.description")
    if parameters is not None and not isinstance(parameters, dict):
        raise InvalidRequest("'parameters' must be a JSON Schema object.", param=f"{where}.parameters")
    if strict is not None and not isinstance(strict, bool):
        raise InvalidRequest("'strict' must be true or false.", param=f"{where}.strict")
    return {"type": "function", "name": name, "description": description, "parameters": parameters,
            "strict": strict}


def _tool_choice(raw: Any, tools: list[dict[str, Any]]) -> str | dict[str, Any]:
    if raw is None:
        return "auto"
    if raw in ("none", "auto", "required"):
        choice: str | dict[str, Any] = raw
    elif raw == {"type": file_search.KIND}:
        if file_search.search_tool(tools) is None:
            raise InvalidRequest("'tool_choice' is file_search but no 'file_search' tool is given.",
                                 param="tool_choice")
        choice = {"type": file_search.KIND}
    elif isinstance(raw, dict) and raw.get("type") == "function" and set(raw) == {"type", "name"} \
            and isinstance(raw["name"], str):
        if raw["name"] not in {t["name"] for t in tools if t["type"] == "function"}:
            raise InvalidRequest(f"'tool_choice' names the function {raw['name'][:64]!r}, which is not in "
                                 "'tools'.", param="tool_choice")
        choice = {"type": "function", "name": raw["name"]}
    else:
        raise InvalidRequest("'tool_choice' must be 'none', 'auto', 'required', {\"type\": \"file_search\"} "
                             "or {\"type\": \"function\", \"name\": ...}; other tool choices are not "
                             "supported by Corral.", param="tool_choice")
    if choice == "required" and not tools:
        raise InvalidRequest("'tool_choice' is 'required' but no 'tools' are given.", param="tool_choice")
    return choice


def _text_config(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {"format": {"type": "text"}}
    if not isinstance(raw, dict) or set(raw) - {"format", "verbosity"}:
        raise InvalidRequest("'text' must be an object with 'format' and optionally 'verbosity'.",
                             param="text")
    out: dict[str, Any] = {"format": _format(raw.get("format"))}
    verbosity = raw.get("verbosity")
    if verbosity is not None:
        if verbosity not in ("low", "medium", "high"):
            raise InvalidRequest("'text.verbosity' must be 'low', 'medium' or 'high'.",
                                 param="text.verbosity")
        out["verbosity"] = verbosity
    return out


def _format(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {"type": "text"}
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind in ("text", "json_object") and isinstance(raw, dict) and set(raw) == {"type"}:
        return {"type": kind}
    if kind != "json_schema" or not isinstance(raw, dict):
        raise InvalidRequest("'text.format.type' must be 'text', 'json_object' or 'json_schema'.",
                             param="text.format")
    extra = set(raw) - {"type", "name", "schema", "description", "strict"}
    name, schema = raw.get("name"), raw.get("schema")
    if extra or not isinstance(name, str) or not _NAME.match(name) or not isinstance(schema, dict):
        raise InvalidRequest("A 'json_schema' text format needs 'name' (1-64 letters, digits, '_' or '-') "
                             "and 'schema' (an object), and may have 'description' and 'strict'.",
                             param="text.format")
    if not isinstance(raw.get("description"), str | None) or not isinstance(raw.get("strict"), bool | None):
        raise InvalidRequest("'description' must be a string and 'strict' a boolean.", param="text.format")
    return {"type": "json_schema", "name": name, "schema": schema, "description": raw.get("description"),
            "strict": raw.get("strict")}


def _reasoning(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) - {"effort", "summary", "generate_summary"}:
        raise InvalidRequest("'reasoning' must be an object with 'effort'.", param="reasoning")
    effort = raw.get("effort")
    if effort is not None and effort not in EFFORTS:
        raise InvalidRequest(f"'reasoning.effort' must be one of: {', '.join(EFFORTS)}.",
                             param="reasoning.effort")
    for name in ("summary", "generate_summary"):
        if raw.get(name) is not None:
            raise InvalidRequest("Reasoning summaries are not produced by Corral; leave "
                                 f"'reasoning.{name}' out.", param=f"reasoning.{name}")
    return {"effort": effort, "summary": None}


def _service_tier(raw: Any) -> str | None:
    if raw is None:
        return None
    if raw not in ("auto", "default"):
        raise InvalidRequest("'service_tier' may only be 'auto' or 'default' on Corral: the route decides "
                             "where the request runs.", param="service_tier")
    return "default"


def _top_logprobs(raw: Any) -> int | None:
    if raw is None or (raw == 0 and not isinstance(raw, bool)):
        return raw
    raise InvalidRequest("Log probabilities are not returned by Corral's /v1/responses; leave "
                         "'top_logprobs' out.", param="top_logprobs")


def _truncation(raw: Any) -> str:
    if raw is None:
        return "disabled"
    if raw not in ("auto", "disabled"):
        raise InvalidRequest("'truncation' must be 'auto' or 'disabled'.", param="truncation")
    return str(raw)


def _stream_options(raw: Any, stream: bool) -> None:
    if raw is None:
        return
    if not stream:
        raise InvalidRequest("'stream_options' is only allowed with 'stream': true.", param="stream_options")
    if not isinstance(raw, dict) or set(raw) - {"include_obfuscation"} \
            or not isinstance(raw.get("include_obfuscation"), bool | None):
        raise InvalidRequest("'stream_options' may only hold 'include_obfuscation' (a boolean).",
                             param="stream_options")
