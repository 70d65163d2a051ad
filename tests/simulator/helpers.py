"""Shared helpers for the simulator tests: per-dialect requests and an SSE parser."""

from __future__ import annotations

from typing import Any

import orjson

DIALECTS = ("openai", "anthropic", "gemini")
PROMPT = "Hello there world, please answer"


def chat_request(
    base: str,
    dialect: str,
    *,
    stream: bool = False,
    model: str = "sim-model",
    prompt: str = PROMPT,
    **extra: Any,
) -> tuple[str, dict[str, Any]]:
    """URL and JSON body of a minimal chat request in ``dialect``."""
    if dialect == "openai":
        body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": prompt}]}
        if stream:
            body["stream"] = True
        return f"{base}/v1/chat/completions", {**body, **extra}
    if dialect == "anthropic":
        body = {"model": model, "max_tokens": 256, "messages": [{"role": "user", "content": prompt}]}
        if stream:
            body["stream"] = True
        return f"{base}/v1/messages", {**body, **extra}
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}
    return f"{base}/v1beta/models/{model}:{method}", {**body, **extra}


def parse_sse(raw: bytes) -> list[tuple[str | None, str]]:
    """(event, data) pairs of an SSE body; accepts LF and CRLF framing."""
    events: list[tuple[str | None, str]] = []
    text = raw.decode().replace("\r\n", "\n")
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        event: str | None = None
        data: list[str] = []
        for line in block.split("\n"):
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                value = line[5:]
                data.append(value[1:] if value.startswith(" ") else value)
        events.append((event, "\n".join(data)))
    return events


def sse_json(raw: bytes) -> list[Any]:
    """JSON payloads of an SSE body, skipping OpenAI's ``[DONE]``."""
    return [orjson.loads(data) for _, data in parse_sse(raw) if data and data != "[DONE]"]


def error_kind(dialect: str, body: Any) -> str:
    """The dialect's error classifier: OpenAI code/type, Anthropic type, Gemini status."""
    if dialect == "openai":
        err = body["error"]
        assert set(err) == {"message", "type", "param", "code"}
        return err["code"] or err["type"]
    if dialect == "anthropic":
        assert body["type"] == "error"
        assert set(body["error"]) == {"type", "message"}
        return body["error"]["type"]
    err = body["error"]
    assert isinstance(err["code"], int) and err["message"]
    return err["status"]
