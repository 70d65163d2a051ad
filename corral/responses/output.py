"""A canonical answer -> the Response object's output items, status, usage and error.

One shape for the JSON answer, the stream's final event and the stored row: a message
item (`msg_...`, `output_text` content with empty annotations and logprobs) for the text,
then one `function_call` item (`fc_...`) per tool call, in the model's order. A grounded
answer (file_search) starts with its `file_search_call` item, and its text's citation
markers become `file_citation` annotations (corral.knowledge.citations).
"""

from __future__ import annotations

import time
from typing import Any

from corral.core.errors import CorralError, InvalidRequest, RateLimited, UpstreamRateLimited, UpstreamRejected
from corral.core.types import ChatResponse, FinishReason, ToolCall, Usage
from corral.knowledge.citations import cite
from corral.responses.grounding import Grounding
from corral.responses.ids import item_id

# Why the answer stopped -> (status, incomplete_details.reason)
_STATUS: dict[FinishReason | None, tuple[str, str | None]] = {
    "stop": ("completed", None),
    "tool_calls": ("completed", None),
    None: ("completed", None),
    "length": ("incomplete", "max_output_tokens"),
    "content_filter": ("incomplete", "content_filter"),
}


def text_part(text: str, annotations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": annotations or [], "logprobs": []}


def message_item(text: str, status: str, id: str | None = None,
                 annotations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"id": id or item_id("msg_"), "type": "message", "role": "assistant", "status": status,
            "content": [text_part(text, annotations)]}


def call_item(call: ToolCall, status: str, id: str | None = None) -> dict[str, Any]:
    return {"id": id or item_id("fc_"), "type": "function_call", "status": status,
            "call_id": call.id or item_id("call_"), "name": call.name, "arguments": call.arguments}


def output_items(answer: ChatResponse, grounding: Grounding | None = None) -> list[dict[str, Any]]:
    status = "incomplete" if answer.finish_reason in ("length", "content_filter") else "completed"
    items = [grounding.call] if grounding is not None else []
    if answer.content:
        text, notes = answer.content, None
        if grounding is not None:
            text, notes = cite(text, grounding.sources)
        items.append(message_item(text, status, annotations=notes))
    items += [call_item(c, status) for c in answer.tool_calls or ()]
    return items


def usage_wire(usage: Usage | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_tokens,
                                 "cache_write_tokens": usage.cache_writes},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total_tokens,
    }


def finish(body: dict[str, Any], output: list[dict[str, Any]], reason: FinishReason | None,
           usage: Usage | None, model: str) -> dict[str, Any]:
    """`body` as a finished response: completed, or incomplete with the reason."""
    status, why = _STATUS[reason]
    body.update(status=status, output=output, usage=usage_wire(usage), model=model,
                incomplete_details={"reason": why} if why else None,
                completed_at=int(time.time()) if status == "completed" else None)
    return body


def finish_answer(body: dict[str, Any], answer: ChatResponse, model: str,
                  grounding: Grounding | None = None) -> dict[str, Any]:
    return finish(body, output_items(answer, grounding), answer.finish_reason, answer.usage, model)


def error_wire(exc: BaseException) -> dict[str, str]:
    """A Response's `error` (code from the spec's ResponseErrorCode list, and the message)."""
    if isinstance(exc, RateLimited | UpstreamRateLimited):
        code = "rate_limit_exceeded"
    elif isinstance(exc, InvalidRequest | UpstreamRejected):
        code = "invalid_prompt"
    else:
        code = "server_error"
    message = exc.message if isinstance(exc, CorralError) else "Corral hit an internal error."
    return {"code": code, "message": message}


def fail(body: dict[str, Any], exc: BaseException,
         output: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """`body` as a failed response; items cut short are marked incomplete."""
    for item in output or ():
        item["status"] = "incomplete"
    body.update(status="failed", error=error_wire(exc), output=output or [], completed_at=None)
    return body
