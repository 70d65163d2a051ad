"""Request shapes for the OpenAI pass-through endpoints (corral/api/passthrough.py), merged into
`SHAPES`: JSON bodies with prose (personal data included, for the `redact` and `block` routes),
and multipart forms with a file, odd fields, a missing model, or cut short."""

from __future__ import annotations

import random
from typing import Any

from tests.fuzz.gateway import CHAT_ROUTES
from tests.fuzz.shapes import Builder, Case, Pool, _text
from tests.fuzz.values import odd_string

_MODELS = [*CHAT_ROUTES, "no-such-model"]


def _completion(rng: random.Random) -> dict[str, Any]:
    body: dict[str, Any] = {"prompt": rng.choice([_text(rng), [_text(rng), "b"], [1, 2, 3]]),
                            "max_tokens": rng.choice([4, 16])}
    if rng.random() < 0.4:
        body["stream"] = True
        if rng.random() < 0.5:
            body["stream_options"] = {"include_usage": True}
    return body


_BODIES = {
    "/v1/completions": _completion,
    "/v1/moderations": lambda rng: {"input": rng.choice([_text(rng), ["plan the attack", _text(rng)]])},
    "/v1/images/generations": lambda rng: {"prompt": _text(rng), "n": rng.choice([1, 2]),
                                           "size": "256x256", "response_format": "b64_json"},
    "/v1/audio/speech": lambda rng: {"input": _text(rng), "voice": "alloy",
                                     "response_format": rng.choice(["wav", "mp3"])},
    "/v1/rerank": lambda rng: {"query": _text(rng), "documents": [_text(rng), "red apples"],
                               "top_n": rng.choice([1, 2])},
}


def _json_shape(path: str) -> Builder:
    def build(rng: random.Random, pool: Pool) -> Case:
        body = _BODIES[path](rng)
        model = rng.choice(_MODELS)
        if not (path == "/v1/moderations" and rng.random() < 0.3):  # its model may be left out
            body["model"] = model
        return Case(f"POST {path}", "POST", path, json=body, model=body.get("model"),
                    hotspots=[("input",), ("prompt",)] if "prompt" in body or "input" in body else [])
    return build


def _form_shape(path: str) -> Builder:
    def build(rng: random.Random, pool: Pool) -> Case:
        model = rng.choice(_MODELS)
        file_field = "image" if path.startswith("/v1/images") else "file"
        fields = [("model", model)] if rng.random() < 0.9 else []
        if path == "/v1/images/edits":
            fields.append(("prompt", _text(rng)))
        if rng.random() < 0.3:
            fields.append(("response_format", rng.choice(["json", "text", "b64_json"])))
        if rng.random() < 0.1:
            fields.append((odd_string(rng), "x"))
        parts = [b'--fz\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
                 % (name.encode("utf-8", "surrogatepass"), value.encode("utf-8", "surrogatepass"))
                 for name, value in fields]
        if rng.random() < 0.9:
            data = rng.choice([b"spoken words", b"Jane Doe at jane@example.com", b"\x89PNG\r\n\x1a\n"])
            part = (b'--fz\r\nContent-Disposition: form-data; name="%s"; filename="a.wav"\r\n'
                    b"Content-Type: audio/wav\r\n\r\n%s\r\n" % (file_field.encode(), data))
            parts.insert(rng.choice([0, len(parts)]), part)
        body = b"".join(parts) + b"--fz--\r\n"
        if rng.random() < 0.1:
            body = body[: rng.randrange(len(body))]
        ctype = rng.choice(["multipart/form-data; boundary=fz"] * 8
                           + ["multipart/form-data", "application/json"])
        return Case(f"POST {path}", "POST", path, json=None, body=body, content_type=ctype, model=model)
    return build


PASSTHROUGH_SHAPES: dict[str, Builder] = {
    **{f"POST {path}": _json_shape(path) for path in _BODIES},
    **{f"POST {path}": _form_shape(path) for path in ("/v1/images/edits", "/v1/images/variations",
                                                       "/v1/audio/transcriptions", "/v1/audio/translations")},
}
PASSTHROUGH_WEIGHTS = {"POST /v1/completions": 3}
PASSTHROUGH_TYPED = {"POST /v1/completions": {"model": "str", "stream": "bool?"},
                     "POST /v1/moderations": {"model": "str?"}}
