"""Pure translation between Corral's canonical types and Gemini's generateContent API.

No I/O here, so every mapping is unit-testable with plain dicts; the provider class in
`corral.providers.gemini` only sends what these functions build and parses replies
with them.
"""

from __future__ import annotations

import mimetypes
import secrets
from collections.abc import Callable
from typing import Any

import orjson

from corral.core.errors import (
    ContentPolicyViolation,
    InvalidRequest,
    UnsupportedParameter,
    UpstreamBadResponse,
)
from corral.core.types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    ContentPart,
    FinishReason,
    ImagePart,
    Message,
    Tool,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from corral.providers._translate import text_and_image_parts, tool_arguments_object, unsupported_image_url

FINISH_REASONS: dict[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}

# Gemini 3 models need each functionCall's thoughtSignature echoed back on the next
# turn. Canonical tool calls have no field for it, so it rides in the call id, which
# clients return verbatim as tool_call_id. "~" is in neither base64 alphabet.
SIGNATURE_SEP = "~ts~"

IdFactory = Callable[[], str]


def new_call_id() -> str:
    return f"call_{secrets.token_hex(12)}"


def encode_call_id(call_id: str, signature: str | None) -> str:
    return f"{call_id}{SIGNATURE_SEP}{signature}" if signature else call_id


def decode_signature(call_id: str) -> str | None:
    _, sep, signature = call_id.partition(SIGNATURE_SEP)
    return signature if sep and signature else None


def check_request(request: ChatRequest, *, where: str = "Gemini") -> None:
    """Raise UnsupportedParameter for what generateContent cannot honour faithfully."""
    rf = request.response_format or {}
    rf_type = rf.get("type", "text")
    if rf_type not in ("text", "json_object", "json_schema"):
        raise UnsupportedParameter(
            f"response_format '{rf_type}' is not supported by {where}; use json_object or "
            "json_schema.",
            param="response_format",
        )
    if rf_type == "json_schema" and not isinstance((rf.get("json_schema") or {}).get("schema"),
                                                    dict):
        raise InvalidRequest(
            "response_format json_schema needs a 'json_schema.schema' object.",
            param="response_format",
        )
    if request.tools and request.parallel_tool_calls is False:
        raise UnsupportedParameter(
            f"parallel_tool_calls=false is not supported by {where}: Gemini cannot be held "
            "to one function call per turn. Drop the parameter or route elsewhere.",
            param="parallel_tool_calls",
        )


def request_body(request: ChatRequest, *, json_schema_fields: bool = False) -> dict[str, Any]:
    """Canonical request -> GenerateContentRequest JSON (the model goes in the URL).

    `json_schema_fields` sends schemas as `parametersJsonSchema`/`responseJsonSchema`
    (full JSON Schema) instead of the OpenAPI-subset `parameters`/`responseSchema`.
    """
    check_request(request)
    system, contents = contents_wire(request.messages)
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    gen: dict[str, Any] = {}
    if request.max_tokens is not None:
        gen["maxOutputTokens"] = request.max_tokens
    if request.temperature is not None:
        gen["temperature"] = request.temperature
    if request.top_p is not None:
        gen["topP"] = request.top_p
    if request.stop:
        gen["stopSequences"] = list(request.stop)
    if request.seed is not None:
        gen["seed"] = request.seed
    rf = request.response_format or {}
    if rf.get("type") in ("json_object", "json_schema"):
        gen["responseMimeType"] = "application/json"
    if rf.get("type") == "json_schema":
        key = "responseJsonSchema" if json_schema_fields else "responseSchema"
        gen[key] = rf["json_schema"]["schema"]
    if gen:
        body["generationConfig"] = gen
    if request.tools:
        decls = [_declaration(t, json_schema_fields) for t in request.tools]
        body["tools"] = [{"functionDeclarations": decls}]
        config = function_calling_config(request.tool_choice)
        if config is not None:
            body["toolConfig"] = {"functionCallingConfig": config}
    return body


def contents_wire(messages: list[Message]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """System parts, and user/model contents with same-role turns merged."""
    system: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool call id -> function name, for functionResponse
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role in ("system", "developer"):
            if isinstance(m.content, list) and any(isinstance(p, ImagePart) for p in m.content):
                raise UnsupportedParameter(
                    "Gemini system instructions are text only; move images to a user message.",
                    param="messages",
                )
            if m.text():
                system.append({"text": m.text()})
            continue
        if m.role == "tool":
            role, parts = "user", [_function_response(m, names)]
        elif m.role == "assistant":
            role, parts = "model", _parts(m.content)
            for call in m.tool_calls or []:
                names[call.id] = call.name
                part: dict[str, Any] = {"functionCall": {"name": call.name,
                                                         "args": tool_arguments_object(call, "Gemini")}}
                signature = decode_signature(call.id)
                if signature:
                    part["thoughtSignature"] = signature
                parts.append(part)
        else:
            role, parts = "user", _parts(m.content)
        if not parts:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["parts"].extend(parts)
        else:
            out.append({"role": role, "parts": parts})
    return system, out


def _parts(content: str | list[ContentPart] | None) -> list[dict[str, Any]]:
    return text_and_image_parts(content, image_part)


def image_part(url: str) -> dict[str, Any]:
    """data: URLs become inlineData, http(s) URLs fileData; nothing else exists."""
    if url.startswith("data:"):
        header, sep, data = url[5:].partition(",")
        params = header.split(";")
        if not sep or params[-1] != "base64" or "/" not in params[0]:
            raise InvalidRequest(
                "Image data URLs must look like 'data:image/png;base64,...'.", param="messages"
            )
        return {"inlineData": {"mimeType": params[0], "data": data}}
    if url.startswith(("https://", "http://")):
        file_data = {"fileUri": url}
        mime, _ = mimetypes.guess_type(url.split("?", 1)[0])
        if mime:
            file_data["mimeType"] = mime
        return {"fileData": file_data}
    raise unsupported_image_url(url)




def _function_response(m: Message, names: dict[str, str]) -> dict[str, Any]:
    name = names.get(m.tool_call_id or "") or m.name
    if not name:
        raise InvalidRequest(
            f"Tool message with tool_call_id {m.tool_call_id!r} matches no earlier assistant "
            "tool call; Gemini needs the function's name. Keep the assistant turn that made "
            "the call in the conversation.",
            param="messages",
        )
    if isinstance(m.content, list) and any(isinstance(p, ImagePart) for p in m.content):
        raise UnsupportedParameter(
            "Gemini function responses are JSON only; put images in a user message.",
            param="messages",
        )
    text = m.text()
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = None
    response = value if isinstance(value, dict) else {"result": text}
    return {"functionResponse": {"name": name, "response": response}}


def _declaration(tool: Tool, json_schema_fields: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"name": tool.name}
    if tool.description:
        out["description"] = tool.description
    params = tool.parameters
    if json_schema_fields and params:
        out["parametersJsonSchema"] = params
    elif params and not (params.get("type") == "object" and not params.get("properties")):
        out["parameters"] = params  # Gemini rejects an OBJECT schema with no properties
    return out


def function_calling_config(choice: str | dict[str, Any] | None) -> dict[str, Any] | None:
    if choice is None:
        return None
    if choice in ("auto", "required", "none"):
        return {"mode": {"auto": "AUTO", "required": "ANY", "none": "NONE"}[choice]}
    if isinstance(choice, dict) and choice.get("type") == "function" and (
        (choice.get("function") or {}).get("name")
    ):
        return {"mode": "ANY", "allowedFunctionNames": [choice["function"]["name"]]}
    raise UnsupportedParameter(
        f"tool_choice {choice!r} cannot be expressed for Gemini; use 'auto', 'required', "
        "'none' or {'type': 'function', 'function': {'name': ...}}.",
        param="tool_choice",
    )


def parse_usage(meta: dict[str, Any] | None) -> Usage | None:
    """Thinking tokens are billed as output, so they count toward output_tokens too."""
    if not meta:
        return None
    thoughts = meta.get("thoughtsTokenCount") or 0
    return Usage(
        input_tokens=meta.get("promptTokenCount") or 0,
        output_tokens=(meta.get("candidatesTokenCount") or 0) + thoughts,
        cached_tokens=meta.get("cachedContentTokenCount") or 0,
        reasoning_tokens=thoughts,
    )


def finish_reason(reason: str | None, has_calls: bool) -> FinishReason | None:
    """Gemini says STOP after function calls; OpenAI clients expect tool_calls."""
    if not reason or reason == "FINISH_REASON_UNSPECIFIED":
        return None
    mapped = FINISH_REASONS.get(reason, "stop")
    return "tool_calls" if mapped == "stop" and has_calls else mapped


def prompt_blocked(payload: dict[str, Any], provider: str) -> ContentPolicyViolation | None:
    reason = (payload.get("promptFeedback") or {}).get("blockReason")
    if not reason:
        return None
    return ContentPolicyViolation(
        f"Provider '{provider}' blocked the prompt ({reason}); rephrase the request.",
        category=reason,
        provider=provider,
        upstream_status=200,
    )


def candidate_parts(
    candidate: dict[str, Any], new_id: IdFactory = new_call_id
) -> tuple[list[str], list[ToolCall]]:
    texts: list[str] = []
    calls: list[ToolCall] = []
    for part in (candidate.get("content") or {}).get("parts") or []:
        if part.get("thought"):
            continue  # thought summaries have no canonical place
        if "text" in part:
            texts.append(part["text"])
        elif "functionCall" in part:
            fc = part["functionCall"] or {}
            calls.append(ToolCall(
                id=encode_call_id(new_id(), part.get("thoughtSignature")),
                name=fc.get("name", ""),
                arguments=orjson.dumps(fc.get("args") or {}).decode(),
            ))
    return texts, calls


def parse_response(
    payload: dict[str, Any], provider: str, new_id: IdFactory = new_call_id
) -> ChatResponse:
    candidates = payload.get("candidates") or []
    if not candidates:
        blocked = prompt_blocked(payload, provider)
        if blocked is not None:
            raise blocked
        raise UpstreamBadResponse(
            f"Provider '{provider}' answered without candidates: {str(payload)[:200]}",
            provider=provider,
        )
    texts, calls = candidate_parts(candidates[0], new_id)
    return ChatResponse(
        id=payload.get("responseId", ""),
        model=payload.get("modelVersion", ""),
        content="".join(texts) if texts else None,
        tool_calls=calls or None,
        finish_reason=finish_reason(candidates[0].get("finishReason"), bool(calls)) or "stop",
        usage=parse_usage(payload.get("usageMetadata")),
    )


class StreamState:
    """Turns streamed GenerateContentResponses into canonical chunks.

    Gemini sends function calls whole, so each becomes one complete ToolCallDelta with
    a running index; usageMetadata is cumulative, so the last one seen is the total.
    """

    def __init__(self, provider: str, new_id: IdFactory = new_call_id) -> None:
        self.provider = provider
        self.finished = False
        self._new_id = new_id
        self._usage: dict[str, Any] | None = None
        self._calls = 0
        self._started = False

    @property
    def usage(self) -> Usage | None:
        return parse_usage(self._usage)

    def feed(self, payload: dict[str, Any]) -> list[ChatChunk]:
        if payload.get("usageMetadata"):
            self._usage = payload["usageMetadata"]
        candidates = payload.get("candidates") or []
        if not candidates:
            blocked = prompt_blocked(payload, self.provider)
            if blocked is not None:
                raise blocked
            return []
        texts, calls = candidate_parts(candidates[0], self._new_id)
        deltas = [
            ToolCallDelta(index=self._calls + i, id=c.id, name=c.name, arguments=c.arguments)
            for i, c in enumerate(calls)
        ]
        self._calls += len(calls)
        chunks: list[ChatChunk] = []
        text = "".join(texts)
        if text or deltas or not self._started:
            chunks.append(ChatChunk(content=text or None, tool_calls=deltas or None,
                                    role=None if self._started else "assistant"))
            self._started = True
        reason = finish_reason(candidates[0].get("finishReason"), self._calls > 0)
        if reason is not None:
            self.finished = True
            chunks.append(ChatChunk(finish_reason=reason))
        return chunks
