"""Pure translation between Corral's canonical types and Bedrock's Converse API.

No I/O here, so every mapping is unit-testable with plain dicts; the provider class in
`corral.providers.bedrock` signs and sends what these functions build. Shapes follow the
bedrock-runtime 2023-09-30 service model (botocore's `service-2.json`): `system` text
blocks, `messages[].content[]` blocks (text, image, toolUse, toolResult,
reasoningContent), `inferenceConfig`, `toolConfig`; the answer's `output.message`,
`stopReason` and `usage`.
"""

from __future__ import annotations

import re
import time
from typing import Any

import orjson

from corral.core.errors import (
    InvalidRequest,
    UnsupportedParameter,
    UpstreamBadResponse,
)
from corral.core.types import (
    ChatRequest,
    ChatResponse,
    ContentPart,
    FinishReason,
    ImagePart,
    Message,
    Tool,
    ToolCall,
    Usage,
)
from corral.providers._translate import text_and_image_parts, tool_arguments_object, unsupported_image_url

STOP_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "content_filtered": "content_filter",
    "guardrail_intervened": "content_filter",
}
# The model wrote something Bedrock could not parse: a retry (or another deployment) may do better.
MALFORMED_STOPS = frozenset({"malformed_model_output", "malformed_tool_use"})

# Converse fields a client may send as they are (OpenAI SDK `extra_body`): model-specific
# parameters (`{"top_k": 5}`, Claude's `thinking`), a guardrail, latency-optimized inference.
NATIVE_PARAMS = frozenset({"additionalModelRequestFields", "guardrailConfig", "performanceConfig"})

_IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/gif": "gif",
                  "image/webp": "webp"}
# Converse accepts tool ids matching ^[a-zA-Z0-9_-]+$ (as Anthropic does); ids minted by other
# providers (after a fallback) are rewritten the same way on toolUse and toolResult.
_UNSAFE_ID = re.compile(r"[^a-zA-Z0-9_-]")


def check_request(request: ChatRequest, *, where: str = "Bedrock") -> None:
    """Raise UnsupportedParameter for what Converse cannot honour faithfully."""
    if request.seed is not None:
        raise UnsupportedParameter(
            f"'seed' is not supported by {where}: Converse has no deterministic sampling option.",
            param="seed",
        )
    if request.tools and request.parallel_tool_calls is False:
        raise UnsupportedParameter(
            f"parallel_tool_calls=false is not supported by {where}; Converse cannot be held to "
            "one tool call per turn. Drop the parameter or route elsewhere.",
            param="parallel_tool_calls",
        )
    if request.tool_choice == "none":
        raise UnsupportedParameter(
            f"tool_choice 'none' is not supported by {where}: Converse has no such mode. Leave "
            "the tools out of the request instead.",
            param="tool_choice",
        )


def request_body(request: ChatRequest, *, default_max_tokens: int | None = None) -> dict[str, Any]:
    """Canonical request -> Converse JSON (the model id goes in the URL)."""
    check_request(request)
    system, messages = messages_wire(request.messages, tools=bool(request.tools))
    body: dict[str, Any] = {"messages": messages}
    if system:
        body["system"] = system
    config: dict[str, Any] = {}
    max_tokens = request.max_tokens if request.max_tokens is not None else default_max_tokens
    if max_tokens is not None:
        config["maxTokens"] = max_tokens
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.top_p is not None:
        config["topP"] = request.top_p
    if request.stop:
        config["stopSequences"] = list(request.stop)
    if config:
        body["inferenceConfig"] = config
    if request.tools:
        tool_config: dict[str, Any] = {"tools": [_tool_wire(t) for t in request.tools]}
        choice = tool_choice_wire(request.tool_choice)
        if choice is not None:
            tool_config["toolChoice"] = choice
        body["toolConfig"] = tool_config
    for name in NATIVE_PARAMS & request.extra.keys():
        body[name] = request.extra[name]
    return body


def messages_wire(messages: list[Message], *, tools: bool = True
                  ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """System text blocks, and user/assistant turns with same-role turns merged (Converse
    needs them to alternate; tool results travel in user turns).

    Converse refuses toolUse/toolResult blocks in a request without a toolConfig, so a tool
    conversation sent without `tools` (a last answer, a summary of the history) carries its
    calls and results as text instead (`tools=False`)."""
    system: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role in ("system", "developer"):
            if isinstance(m.content, list) and any(isinstance(p, ImagePart) for p in m.content):
                raise UnsupportedParameter(
                    "Bedrock system prompts are text only; move images to a user message.",
                    param="messages",
                )
            if m.text():
                system.append({"text": m.text()})
            continue
        role = "assistant" if m.role == "assistant" else "user"
        blocks = _blocks(m) if tools else _text_blocks(m)
        if not blocks:
            continue  # Converse rejects blank text blocks and empty turns
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    return system, out


def _blocks(m: Message) -> list[dict[str, Any]]:
    if m.role == "tool":
        if not m.tool_call_id:
            raise InvalidRequest("A 'tool' message needs 'tool_call_id'.", param="messages")
        if isinstance(m.content, list) and any(isinstance(p, ImagePart) for p in m.content):
            raise UnsupportedParameter(
                "Tool results with images are not supported for Bedrock; put images in a user "
                "message.",
                param="messages",
            )
        text = m.text()  # Converse refuses blank text, so an empty result is an empty JSON object
        content: list[dict[str, Any]] = [{"text": text}] if text.strip() else [{"json": {}}]
        result = {"toolUseId": safe_id(m.tool_call_id), "content": content}
        return [{"toolResult": result}]
    blocks = [reasoning_wire(b) for b in m.reasoning or ()]  # reasoning comes first
    blocks.extend(_parts_wire(m.content))
    for call in m.tool_calls or []:
        blocks.append({"toolUse": {"toolUseId": safe_id(call.id), "name": call.name,
                                   "input": tool_arguments_object(call, "Bedrock")}})
    return blocks


def _text_blocks(m: Message) -> list[dict[str, Any]]:
    """`_blocks` with tool calls and results written out as text."""
    if m.role == "tool":
        return [{"text": f"[Result of tool call {m.tool_call_id}]: {m.text() or '(empty)'}"}]
    blocks = [reasoning_wire(b) for b in m.reasoning or ()] + _parts_wire(m.content)
    blocks += [{"text": f"[Tool call {c.id}: {c.name}({c.arguments or '{}'})]"} for c in m.tool_calls or []]
    return blocks


def _parts_wire(content: str | list[ContentPart] | None) -> list[dict[str, Any]]:
    return text_and_image_parts(content, image_block)


def image_block(url: str) -> dict[str, Any]:
    """Converse takes image bytes (base64 in JSON) or an S3 object, never an https URL."""
    if url.startswith("data:"):
        header, sep, data = url[5:].partition(",")
        params = header.split(";")
        fmt = _IMAGE_FORMATS.get(params[0].lower())
        if not sep or params[-1] != "base64" or fmt is None:
            raise InvalidRequest(
                "Bedrock needs image data URLs like 'data:image/png;base64,...' (png, jpeg, gif "
                "or webp).",
                param="messages",
            )
        return {"image": {"format": fmt, "source": {"bytes": data}}}
    if url.startswith("s3://"):
        ext = url.rsplit(".", 1)[-1].lower()
        fmt = {"jpg": "jpeg"}.get(ext, ext)
        if fmt not in _IMAGE_FORMATS.values():
            raise InvalidRequest(f"Cannot tell the image format of {url[:60]!r}.", param="messages")
        return {"image": {"format": fmt, "source": {"s3Location": {"uri": url}}}}
    if url.startswith(("https://", "http://")):
        raise UnsupportedParameter(
            "Bedrock does not fetch image URLs; send the image as a base64 data: URL or an s3:// "
            "URI.",
            param="messages",
        )
    raise unsupported_image_url(url)


def reasoning_wire(block: dict[str, Any]) -> dict[str, Any]:
    """Anthropic-shaped thinking block (`Message.reasoning`) -> Converse reasoningContent."""
    if block.get("type") == "redacted_thinking":
        return {"reasoningContent": {"redactedContent": block.get("data", "")}}
    text: dict[str, Any] = {"text": block.get("thinking", "")}
    if block.get("signature"):
        text["signature"] = block["signature"]
    return {"reasoningContent": {"reasoningText": text}}


def reasoning_block(content: dict[str, Any]) -> dict[str, Any]:
    """Converse reasoningContent -> the Anthropic-shaped block `Message.reasoning` keeps."""
    if "redactedContent" in content:
        return {"type": "redacted_thinking", "data": content["redactedContent"]}
    text = content.get("reasoningText") or {}
    return {"type": "thinking", "thinking": text.get("text", ""),
            "signature": text.get("signature", "")}


def safe_id(tool_id: str) -> str:
    return _UNSAFE_ID.sub("_", tool_id)[:64] or "tool"


def _tool_wire(tool: Tool) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": tool.name,
        "inputSchema": {"json": tool.parameters or {"type": "object", "properties": {}}},
    }
    if tool.description:
        spec["description"] = tool.description
    return {"toolSpec": spec}


def tool_choice_wire(choice: str | dict[str, Any] | None) -> dict[str, Any] | None:
    """OpenAI tool_choice -> Converse's `{auto: {}}`, `{any: {}}` or `{tool: {name}}`."""
    if choice is None:
        return None
    if choice == "auto":
        return {"auto": {}}
    if choice == "required":
        return {"any": {}}
    if isinstance(choice, dict) and choice.get("type") == "function" and (
        (choice.get("function") or {}).get("name")
    ):
        return {"tool": {"name": choice["function"]["name"]}}
    raise UnsupportedParameter(
        f"tool_choice {choice!r} cannot be expressed for Bedrock; use 'auto', 'required' or "
        "{'type': 'function', 'function': {'name': ...}}.",
        param="tool_choice",
    )


def parse_usage(raw: dict[str, Any] | None) -> Usage:
    """Bedrock counts cache reads and writes apart from inputTokens; Corral's input includes them."""
    raw = raw or {}
    cache_read = raw.get("cacheReadInputTokens") or 0
    return Usage(
        input_tokens=(raw.get("inputTokens") or 0) + cache_read + (raw.get("cacheWriteInputTokens") or 0),
        output_tokens=raw.get("outputTokens") or 0,
        cached_tokens=cache_read,
    )


def finish_reason(stop_reason: str | None, provider: str) -> FinishReason:
    if stop_reason in MALFORMED_STOPS:
        raise UpstreamBadResponse(
            f"Provider '{provider}' stopped with '{stop_reason}': the model's output could not be "
            "parsed.",
            provider=provider,
        )
    return STOP_REASONS.get(stop_reason or "", "stop")


def parse_response(payload: Any, provider: str, *, model: str = "",
                   response_id: str = "") -> ChatResponse:
    message = (payload.get("output") or {}).get("message") if isinstance(payload, dict) else None
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, list):
        raise UpstreamBadResponse(
            f"Provider '{provider}' answered without output.message.content: {str(payload)[:200]}",
            provider=provider,
        )
    texts: list[str] = []
    calls: list[ToolCall] = []
    reasoning: list[dict[str, Any]] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        if "text" in block:
            texts.append(str(block["text"]))
        elif "toolUse" in block:
            use = block["toolUse"] or {}
            calls.append(ToolCall(id=str(use.get("toolUseId", "")), name=str(use.get("name", "")),
                                  arguments=orjson.dumps(use.get("input") or {}).decode()))
        elif "reasoningContent" in block:
            reasoning.append(reasoning_block(block["reasoningContent"] or {}))
    return ChatResponse(
        id=response_id,
        model=model,
        content="".join(texts) if texts else None,
        tool_calls=calls or None,
        finish_reason=finish_reason(payload.get("stopReason"), provider),
        usage=parse_usage(payload.get("usage")),
        created=int(time.time()),
        reasoning=reasoning or None,
    )
