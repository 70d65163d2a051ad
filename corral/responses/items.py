"""Input items: the wire forms -> one stored shape each, and stored items -> canonical messages.

Stored shapes are the API's item resources (what `input_items` lists and what a later
`previous_response_id` loads): every item has an `id`; a message's content is always a
list of parts (`input_text` / `input_image` for user, system and developer; `output_text`
/ `refusal` for the assistant). Supported items: messages, `function_call` and
`function_call_output`, and `file_search_call` (earlier output passed back: kept, never sent
to the model, as its sources were for that turn). Anything else is refused with a 400 naming it.
"""

from __future__ import annotations

from typing import Any

from corral.core.errors import InvalidRequest
from corral.core.json_limits import MAX_JSON_DEPTH, JsonTooDeep, could_exceed, text_depth
from corral.core.types import ContentPart, ImagePart, Message, TextPart, ToolCall
from corral.core.unread import refuse_unread
from corral.responses.ids import item_id

ROLES = ("user", "system", "developer", "assistant")
SUPPORTED_ITEMS = "message, function_call, function_call_output, file_search_call"
DETAILS = ("auto", "low", "high")
# Fields Corral reads (or that an output item passed back carries); others with a value are a 400.
_MESSAGE_FIELDS = frozenset({"type", "role", "content", "id", "status"})
_PART_FIELDS = {
    "input_text": frozenset({"type", "text"}),
    "output_text": frozenset({"type", "text", "annotations", "logprobs"}),  # annotations: not sent on
    "refusal": frozenset({"type", "refusal"}),
    "input_image": frozenset({"type", "image_url", "detail", "file_id"}),
    "input_file": frozenset({"type", "file_id", "file_data", "file_url", "filename"}),
}



def normalize_input(raw: Any) -> list[dict[str, Any]]:
    """A create request's `input` as stored items (a string is one user message)."""
    if isinstance(raw, str):
        return [_message_item("user", [{"type": "input_text", "text": raw}])]
    if not isinstance(raw, list) or not raw:
        raise InvalidRequest("'input' must be a string or a non-empty list of input items.", param="input")
    return [_item(entry, f"input[{i}]") for i, entry in enumerate(raw)]


def _item(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise InvalidRequest(f"'{where}' must be an input item object.", param=where)
    kind = raw.get("type", "message" if "role" in raw else None)
    if kind == "message":
        return _message(raw, where)
    if kind == "function_call":
        return _function_call(raw, where)
    if kind == "function_call_output":
        return _function_output(raw, where)
    if kind == "file_search_call":
        return _search_call(raw, where)
    shown = str(kind)[:40] if kind is not None else "(none)"
    raise InvalidRequest(f"Input items of type {shown!r} are not supported by Corral's /v1/responses "
                         f"(supported: {SUPPORTED_ITEMS}).", param=f"{where}.type")


def _message_item(role: str, content: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": item_id("msg_"), "type": "message", "role": role, "status": "completed", "content": content}


def _message(raw: dict[str, Any], where: str) -> dict[str, Any]:
    refuse_unread(raw, _MESSAGE_FIELDS, where, "a message item")
    role = raw.get("role")
    if role not in ROLES:
        raise InvalidRequest(f"'{where}.role' must be one of: {', '.join(ROLES)}.", param=f"{where}.role")
    content = raw.get("content")
    if isinstance(content, str):
        parts = [_text_part(role, content)]
    elif isinstance(content, list):
        parts = [_part(role, p, f"{where}.content[{i}]") for i, p in enumerate(content)]
    else:
        raise InvalidRequest(f"'{where}.content' must be a string or a list of content parts.",
                             param=f"{where}.content")
    return _message_item(role, parts)


def _text_part(role: str, text: str) -> dict[str, Any]:
    if role == "assistant":
        return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    return {"type": "input_text", "text": text}


def _part(role: str, raw: Any, where: str) -> dict[str, Any]:
    kind = raw.get("type") if isinstance(raw, dict) else None
    if not isinstance(raw, dict) or not isinstance(kind, str):
        raise InvalidRequest(f"'{where}' must be a content part with a 'type'.", param=where)
    if kind in _PART_FIELDS:  # (an unknown type gets the error that names the types below)
        refuse_unread(raw, _PART_FIELDS[kind], where, f"an {kind!r} part")
    if kind in ("input_text", "output_text"):
        text = raw.get("text")
        if not isinstance(text, str):
            raise InvalidRequest(f"'{where}.text' must be a string.", param=f"{where}.text")
        if kind == "output_text" and role != "assistant":
            raise InvalidRequest(f"'output_text' parts belong to assistant messages, not {role}.",
                                 param=f"{where}.type")
        return _text_part(role, text)
    if kind == "refusal" and role == "assistant" and isinstance(raw.get("refusal"), str):
        return {"type": "refusal", "refusal": raw["refusal"]}
    if kind == "input_image" and role != "assistant":
        return _image(raw, where)
    if kind == "input_file":
        raise InvalidRequest("File inputs ('input_file') are not supported by Corral's /v1/responses yet; "
                             "send the text as 'input_text'.", param=f"{where}.type")
    raise InvalidRequest(f"Content parts of type {kind[:40]!r} are not supported in a {role} message "
                         "(supported: input_text, input_image; output_text and refusal for the assistant).",
                         param=f"{where}.type")


def _image(raw: dict[str, Any], where: str) -> dict[str, Any]:
    if raw.get("file_id") is not None:
        raise InvalidRequest("Images by 'file_id' are not supported by Corral yet; send 'image_url' "
                             "(an https or data: URL).", param=f"{where}.file_id")
    url, detail = raw.get("image_url"), raw.get("detail", "auto")
    if not isinstance(url, str) or not url:
        raise InvalidRequest("An 'input_image' needs 'image_url' (an https or data: URL).",
                             param=f"{where}.image_url")
    if detail not in DETAILS:
        raise InvalidRequest(f"'detail' must be one of: {', '.join(DETAILS)}.", param=f"{where}.detail")
    return {"type": "input_image", "image_url": url, "detail": detail}


def _string(raw: dict[str, Any], name: str, where: str, limit: int | None = None) -> str:
    value = raw.get(name)
    if not isinstance(value, str) or (limit is not None and not 0 < len(value) <= limit):
        size = f" of 1 to {limit} characters" if limit else ""
        raise InvalidRequest(f"'{where}.{name}' must be a string{size}.", param=f"{where}.{name}")
    return value


def _function_call(raw: dict[str, Any], where: str) -> dict[str, Any]:
    call_id = _string(raw, "call_id", where, 128)
    name = _string(raw, "name", where, 64)
    arguments = _string(raw, "arguments", where)
    if could_exceed(arguments) and text_depth(arguments) > MAX_JSON_DEPTH:
        param = f"{where}.arguments"
        raise InvalidRequest(str(JsonTooDeep(param, MAX_JSON_DEPTH)), param=param)
    return {"id": item_id("fc_"), "type": "function_call", "status": "completed", "call_id": call_id,
            "name": name, "arguments": arguments}


def _function_output(raw: dict[str, Any], where: str) -> dict[str, Any]:
    call_id = _string(raw, "call_id", where, 128)
    output = raw.get("output")
    if isinstance(output, list):
        for i, part in enumerate(output):
            if not isinstance(part, dict) or part.get("type") != "input_text" \
                    or not isinstance(part.get("text"), str):
                raise InvalidRequest("A function call's output may hold only 'input_text' parts on Corral.",
                                     param=f"{where}.output[{i}]")
        output = [{"type": "input_text", "text": p["text"]} for p in output]
    elif not isinstance(output, str):
        raise InvalidRequest(f"'{where}.output' must be a string or a list of 'input_text' parts.",
                             param=f"{where}.output")
    return {"id": item_id("fco_"), "type": "function_call_output", "status": "completed", "call_id": call_id,
            "output": output}


def _search_call(raw: dict[str, Any], where: str) -> dict[str, Any]:
    queries = raw.get("queries", [])
    if not isinstance(queries, list) or not all(isinstance(q, str) for q in queries):
        raise InvalidRequest(f"'{where}.queries' must be a list of strings.", param=f"{where}.queries")
    results = raw.get("results")
    if results is not None and not isinstance(results, list):
        raise InvalidRequest(f"'{where}.results' must be a list or null.", param=f"{where}.results")
    return {"id": item_id("fs_"), "type": "file_search_call", "status": "completed", "queries": queries,
            "results": results}


def to_messages(items: list[dict[str, Any]]) -> list[Message]:
    """Stored items (input and earlier output) as the canonical conversation.

    A function call joins the assistant turn before it (text and calls are one turn in
    the chat shape); its output becomes a `tool` message answering the call's id.
    """
    messages: list[Message] = []
    for item in items:
        kind = item["type"]
        if kind == "message":
            messages.append(_canonical_message(item))
        elif kind == "function_call":
            call = ToolCall(item["call_id"], item["name"], item["arguments"])
            last = messages[-1] if messages else None
            if last is not None and last.role == "assistant":
                last.tool_calls = [*(last.tool_calls or []), call]
            else:
                messages.append(Message("assistant", None, tool_calls=[call]))
        elif kind == "function_call_output":
            output = item["output"]
            text = output if isinstance(output, str) else "".join(p["text"] for p in output)
            messages.append(Message("tool", text, tool_call_id=item["call_id"]))
    return messages


def _canonical_message(item: dict[str, Any]) -> Message:
    role = item["role"]
    parts: list[ContentPart] = []
    for part in item["content"]:
        if part["type"] == "input_image":
            parts.append(ImagePart(part["image_url"], part.get("detail")))
        else:
            parts.append(TextPart(part.get("text", part.get("refusal", ""))))
    if len(parts) == 1 and isinstance(parts[0], TextPart):
        return Message(role, parts[0].text)
    return Message(role, parts)
