"""A Response's fields and its conversation -> the canonical `ChatRequest` that runs it.

Built from the Response object's own echo fields, so a background response rebuilt from
its stored row runs exactly what the foreground request would have. Parameters with no
canonical field go in `ChatRequest.extra` under their chat-completions names
(`reasoning_effort`, `verbosity`): OpenAI-compatible deployments receive them, and other
adapters refuse them with a 400 naming them rather than dropping them.

A `file_search` tool is not sent to the model (Corral ran the search): its sources come
as `grounding` messages, the rules after the instructions and the sources just before the
latest user message (corral.responses.grounding).
"""

from __future__ import annotations

from typing import Any

from corral.core.types import ChatRequest, Message, Tool
from corral.responses.items import to_messages


def chat_request(body: dict[str, Any], conversation: list[dict[str, Any]], *, stream: bool,
                 grounding: list[Message] | None = None) -> ChatRequest:
    """`conversation`: the earlier responses' items, oldest first, then this request's input;
    `grounding`: the file_search rules, then the sources (if any were found)."""
    messages: list[Message] = []
    if body.get("instructions"):
        messages.append(Message("system", body["instructions"]))
    turns = to_messages(conversation)
    if grounding:
        messages.append(grounding[0])
        at = max((i for i, m in enumerate(turns) if m.role == "user"), default=len(turns))
        turns[at:at] = grounding[1:]
    messages += turns
    tools = [Tool(t["name"], t.get("description"), t.get("parameters"), t.get("strict"))
             for t in body.get("tools") or [] if t["type"] == "function"]
    extra: dict[str, Any] = {}
    effort = (body.get("reasoning") or {}).get("effort")
    if effort is not None:
        extra["reasoning_effort"] = effort
    text = body.get("text") or {}
    if text.get("verbosity") is not None:
        extra["verbosity"] = text["verbosity"]
    return ChatRequest(
        model=body["model"],
        messages=messages,
        stream=stream,
        include_usage=stream,
        max_tokens=body.get("max_output_tokens"),
        temperature=body.get("temperature"),
        top_p=body.get("top_p"),
        user=body.get("safety_identifier") or body.get("user"),
        response_format=_response_format(text.get("format")),
        tools=tools or None,
        tool_choice=_tool_choice(body.get("tool_choice"), bool(grounding)) if tools else None,
        parallel_tool_calls=body.get("parallel_tool_calls") if tools else None,
        extra=extra,
    )


def _response_format(fmt: dict[str, Any] | None) -> dict[str, Any] | None:
    if fmt is None or fmt["type"] == "text":
        return None
    if fmt["type"] == "json_object":
        return {"type": "json_object"}
    schema = {k: fmt[k] for k in ("name", "schema", "description", "strict") if fmt.get(k) is not None}
    return {"type": "json_schema", "json_schema": schema}


def _tool_choice(choice: str | dict[str, Any] | None, searched: bool) -> str | dict[str, Any] | None:
    """The Responses shape ({"type": "function", "name": ...}) in the chat shape Corral carries.
    A search already done satisfies `required` and `{"type": "file_search"}`: the model may
    answer or call a function."""
    if isinstance(choice, dict):
        if choice["type"] != "function":
            return "auto"
        return {"type": "function", "function": {"name": choice["name"]}}
    return "auto" if choice == "required" and searched else choice
