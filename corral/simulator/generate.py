"""Deterministic fake generation: token counts, text, tool arguments, vectors.

Nothing here is a model. Output is a pure function of the prompt, the seed
and the requested size, so tests can predict it exactly (see ``sim_text``).

Token accounting is deliberately crude and documented: a prompt costs
``ceil(chars / 4)`` tokens (at least 1), where ``chars`` is the total length
of every string value inside the prompt fields (messages/contents, system,
tools). Each generated text token is one word and is streamed as one chunk;
JSON and tool-call arguments are cut into 4-character pieces, one "token"
(and one chunk) each.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import struct
from dataclasses import dataclass
from typing import Any

import orjson

VOCAB = (
    "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima "
    "mike november oscar papa quebec romeo sierra tango uniform victor whiskey "
    "xray yankee zulu amber basil cedar dune ember fjord grove harbor iris jade "
    "kelp lumen maple nectar opal pine quartz river sage tundra umber vale "
    "willow yarrow zephyr atlas beacon canyon drift falcon glacier heron island "
    "lagoon meadow nova orbit"
).split()
# A placeholder of Corral's privacy stage ("[EMAIL_1]") is one word, echoed whole, so a test
# can see an answer restored; any other word is letters, digits and apostrophes.
_WORD = re.compile(r"\[[A-Za-z0-9_]+\]|[A-Za-z0-9']+")
ECHO_WORDS = 3
PIECE_CHARS = 4


MAX_SAMPLE_ITEMS = 100  # minItems: 10**9 must not allocate a billion-item sample
MAX_DIM = 8192  # a fake vector of whatever size a request asks for would be a memory bomb

def count_chars(obj: Any) -> int:
    """Total length of all string values nested in ``obj``."""
    if isinstance(obj, str):
        return len(obj)
    if isinstance(obj, dict):
        return sum(count_chars(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(count_chars(v) for v in obj)
    return 0


def estimate_tokens(*parts: Any) -> int:
    """Prompt tokens: ceil(chars/4) over all strings in ``parts``, min 1."""
    chars = sum(count_chars(p) for p in parts)
    return max(1, -(-chars // 4))


def sim_words(prompt: str, n: int, seed: int = 0) -> list[str]:
    """The n text tokens the simulator answers to ``prompt``.

    The first (up to) three words of the prompt are echoed, then filler words
    picked by a hash of (seed, prompt). Tokens after the first carry a leading
    space, so ``"".join(tokens)`` is the answer text.
    """
    words = _WORD.findall(prompt)[:ECHO_WORDS] or ["Sim"]
    words = [w[:24] for w in words]
    digest = hashlib.blake2b(f"{seed}\0{prompt}".encode(), digest_size=64).digest()
    size = len(VOCAB)
    out: list[str] = []
    for i in range(n):
        word = words[i] if i < len(words) else VOCAB[(digest[i % 64] + i // 64 * 7) % size]
        out.append(word if i == 0 else " " + word)
    return out


def sim_text(prompt: str, n: int, seed: int = 0) -> str:
    """Answer text for ``prompt`` with n tokens (what clients should see)."""
    return "".join(sim_words(prompt, n, seed))


def pieces(text: str, size: int = PIECE_CHARS) -> list[str]:
    """Cut ``text`` into fixed-size pieces (one streamed chunk each)."""
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def sample_from_schema(schema: Any, *, all_props: bool = False, root: Any = None, depth: int = 0) -> Any:
    """A small value valid for a JSON schema (also Gemini's upper-case types).

    Objects get their required properties (all properties if ``all_props``);
    strings are "x", numbers 1, booleans true, arrays as short as allowed.
    """
    if root is None:
        root = schema
    if not isinstance(schema, dict) or depth > 8:
        return "x"
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return sample_from_schema(target, all_props=all_props, root=root, depth=depth + 1)
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            usable = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
            return sample_from_schema((usable or options)[0], all_props=all_props, root=root, depth=depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if str(k).lower() != "null"), "null")
    kind = str(kind).lower() if kind else ("object" if "properties" in schema else "string")
    if kind == "object":
        props = schema.get("properties")
        props = props if isinstance(props, dict) else {}
        required = schema.get("required")
        names = list(props) if all_props else list(required) if isinstance(required, list) else []
        return {  # a client's schema may be malformed (required: [1]): skip what is not a name
            name: sample_from_schema(props.get(name, {}), all_props=all_props, root=root, depth=depth + 1)
            for name in names if isinstance(name, str)
        }
    if kind == "array":
        low = schema.get("minItems")
        count = min(low, MAX_SAMPLE_ITEMS) if isinstance(low, int) and low > 0 else 0
        item = schema.get("items", {})
        return [
            sample_from_schema(item, all_props=all_props, root=root, depth=depth + 1) for _ in range(count)
        ]
    if kind in ("integer", "number"):
        low = schema.get("minimum")
        return low if isinstance(low, (int, float)) and low > 1 else 1
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return "x"


@dataclass(slots=True)
class ToolSpec:
    """A tool offered by the request: name plus its parameter schema."""

    name: str
    schema: dict[str, Any]


@dataclass(slots=True)
class Generation:
    """Everything one answer needs, whatever the dialect.

    kind: "text", "json" or "tool"; chunks: what is streamed, one per token;
    finish: "stop", "length" or "tool"; completion_tokens counts the chunks
    (reasoning tokens are reported separately by each dialect).
    """

    kind: str
    chunks: list[str]
    text: str
    finish: str
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    tool: ToolSpec | None = None
    tool_args: Any = None


def build_generation(
    *,
    prompt_text: str,
    prompt_tokens: int,
    output_tokens: int,
    max_tokens: int | None,
    seed: int,
    tool: ToolSpec | None = None,
    json_schema: dict[str, Any] | None = None,
    json_mode: bool = False,
    cached_tokens: int = 0,
    reasoning_tokens: int = 0,
) -> Generation:
    """Decide the answer: a forced tool call, JSON text or plain words."""
    n = output_tokens if max_tokens is None else min(output_tokens, max_tokens)
    cached = min(cached_tokens, prompt_tokens)
    if tool is not None:
        args = sample_from_schema(tool.schema or {"type": "object"})
        if not isinstance(args, dict):
            args = {}
        text = orjson.dumps(args).decode()
        chunks = pieces(text)
        return Generation(
            "tool", chunks, text, "tool", prompt_tokens, len(chunks), cached, reasoning_tokens, tool, args
        )
    if json_mode or json_schema is not None:
        if json_schema is not None:
            value = sample_from_schema(json_schema, all_props=True)
        else:
            value = {"text": sim_text(prompt_text, n, seed)}
        text = orjson.dumps(value).decode()
        chunks = pieces(text)
        return Generation("json", chunks, text, "stop", prompt_tokens, len(chunks), cached, reasoning_tokens)
    words = sim_words(prompt_text, n, seed)
    finish = "length" if max_tokens is not None and max_tokens < output_tokens else "stop"
    return Generation("text", words, "".join(words), finish, prompt_tokens, n, cached, reasoning_tokens)




def embedding_vector(text: str, dim: int) -> list[float]:
    """Unit vector of ``dim`` floats derived only from a hash of ``text``."""
    data = text.encode()
    values: list[int] = []
    block = 0
    while len(values) < dim:
        digest = hashlib.blake2b(block.to_bytes(4, "little") + data, digest_size=64).digest()
        values.extend(struct.unpack("<32h", digest))
        block += 1
    vec = [v / 32768.0 for v in values[:dim]]
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [v / norm for v in vec]


def embedding_base64(vec: list[float]) -> str:
    """OpenAI's ``encoding_format: base64``: little-endian float32 bytes."""
    return base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode()
