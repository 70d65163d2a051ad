"""Reversible redaction: typed, numbered placeholders for the values a detector found.

Every text the provider would see is covered: message content (text parts; images are
never touched), message names, tool-call arguments in the history, tool results, the
system prompt, and the request's ``user`` field. Tool definitions are not: they are
the developer's schema, and rewriting them would change the functions offered.

The same value gets the same placeholder everywhere in one request (``[EMAIL_1]``), also where
the detector missed it and in case or whitespace variants of names (`corral.privacy.consistency`);
numbering is per type, in order of first appearance. The mapping lives in a `Vault`
that only the request's stage holds, in memory, for the request's lifetime.

Placeholders must not be confused with text already in the prompt, so the form is
chosen per request: ``[EMAIL_1]`` unless the prompt already contains anything of that
shape (any type, any number, any letter case), then ``[[EMAIL_1]]``, ``<<EMAIL_1>>``,
``{{EMAIL_1}}``, ``⟦EMAIL_1⟧``, and finally a random tag (``[EMAIL_1~3fa9]``).
"""

from __future__ import annotations

import dataclasses
import json
import re
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from corral.core.json_limits import MAX_JSON_DEPTH, could_exceed, text_depth
from corral.core.types import ChatRequest, Message, TextPart, Tool, ToolCall
from corral.privacy.consistency import propagate
from corral.privacy.spans import select_spans as select_spans  # re-exported: callers import it here
from corral.privacy.types import Span

FORMS: tuple[tuple[str, str], ...] = (("[", "]"), ("[[", "]]"), ("<<", ">>"), ("{{", "}}"), ("⟦", "⟧"))
_BODY = r"[A-Za-z][A-Za-z0-9_]*_\d+"
_ENTITY_CHARS = re.compile(r"[^A-Z0-9]+")
_SURROGATE = re.compile("[\ud800-\udfff]")
ShowValues = Literal["raw", "masked", "none"]


def _shape(open_: str, close: str) -> re.Pattern[str]:
    """Anything that looks like a placeholder of this form, in any letter case."""
    return re.compile(re.escape(open_) + _BODY + re.escape(close), re.IGNORECASE | re.ASCII)


def choose_form(texts: Iterable[str]) -> tuple[str, str]:
    """The first placeholder form that nothing in `texts` already resembles."""
    texts = [t for t in texts if t]
    for open_, close in FORMS:
        shape = _shape(open_, close)
        if not any(shape.search(t) for t in texts):
            return open_, close
    while True:  # 16 random bits, checked: every prompt eventually gets a fresh tag
        close = f"~{secrets.token_hex(2)}]"
        if not any(close in t.lower() for t in texts):
            return "[", close


def entity_label(entity: str) -> str:
    """A detector's entity name as it appears in placeholders (``credit-card`` -> ``CREDIT_CARD``)."""
    return _ENTITY_CHARS.sub("_", entity.upper()).strip("_") or "PII"


class Vault:
    """The request's value <-> placeholder mapping, in memory only. Never printed with values."""

    __slots__ = ("_aliases", "_by_placeholder", "_by_value", "_counters", "close", "open")

    def __init__(self, form: tuple[str, str] = FORMS[0]) -> None:
        self.open, self.close = form
        self._by_value: dict[str, str] = {}
        self._by_placeholder: dict[str, str] = {}  # case-folded placeholder -> value
        self._counters: Counter[str] = Counter()
        self._aliases: dict[str, str] = {}  # a variant ("JOHN SMITH") -> the form whose placeholder it gets

    def alias(self, variants: dict[str, str]) -> None:
        """Give each variant the placeholder of its first-seen form (see `corral.privacy.consistency`).

        The answer restores that first-seen form: the model writes one placeholder for them all.
        """
        self._aliases.update(variants)

    def placeholder(self, entity: str, value: str) -> str:
        """The value's placeholder, numbered on first sight; a value keeps its first type."""
        value = self._aliases.get(value, value)
        found = self._by_value.get(value)
        if found is not None:
            return found
        label = entity_label(entity)
        self._counters[label] += 1
        made = f"{self.open}{label}_{self._counters[label]}{self.close}"
        self._by_value[value] = made
        self._by_placeholder[fold(made)] = value
        return made

    def value(self, placeholder: str) -> str | None:
        return self._by_placeholder.get(fold(placeholder))

    @property
    def placeholders(self) -> list[str]:
        return list(self._by_value.values())

    @property
    def size(self) -> int:
        return len(self._by_value)

    @property
    def longest(self) -> int:
        """Length of the longest placeholder: the most a stream restorer may hold back."""
        return max((len(p) for p in self._by_value.values()), default=0)

    def scrub(self, text: str) -> str:
        """Replace every original value in `text` by its placeholder (error messages, records)."""
        if not self._by_value or not text:
            return text
        known = {**{a: self._by_value[v] for a, v in self._aliases.items() if v in self._by_value},
                 **self._by_value}
        values = sorted(known, key=len, reverse=True)
        pattern = re.compile("|".join(re.escape(v) for v in values if v))
        return pattern.sub(lambda m: known[m.group()], text)

    def __repr__(self) -> str:
        return f"Vault({self.size} placeholders, form={self.open}…{self.close})"


_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def fold(text: str) -> str:
    """ASCII-only lower case: matches re.IGNORECASE | re.ASCII and keeps lengths."""
    return text.translate(_FOLD)


# -- walking the request's texts ------------------------------------------------------------

TextFn = Callable[[str], str]


def _map_json(value: Any, fn: TextFn) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [_map_json(v, fn) for v in value]
    if isinstance(value, dict):
        return {fn(k): _map_json(v, fn) for k, v in value.items()}
    return value


def _map_arguments(arguments: str, fn: TextFn) -> str:
    """Tool-call arguments: each JSON string on its own (keeps the JSON valid), else plain text.

    Arguments nested past `MAX_JSON_DEPTH` are treated as plain text: the parser and the
    walk below recurse per level, and the whole text is still scanned, so nothing is
    let through unredacted (the API refuses such arguments; internal callers may not).
    """
    if could_exceed(arguments) and text_depth(arguments) > MAX_JSON_DEPTH:
        return fn(arguments)
    try:
        data = json.loads(arguments)
    except ValueError:
        return fn(arguments)
    if not isinstance(data, dict | list):
        return fn(arguments)
    mapped = _map_json(data, fn)
    if mapped == data:
        return arguments
    text = json.dumps(mapped, ensure_ascii=False)
    # A lone surrogate the client escaped ("\\ud800") must stay escaped: raw, no encoder takes it.
    return json.dumps(mapped) if _SURROGATE.search(text) else text


def _map_message(m: Message, fn: TextFn) -> Message:
    content = m.content
    if isinstance(content, str):
        content = fn(content)
    elif isinstance(content, list):
        content = [TextPart(fn(p.text), cache=p.cache) if isinstance(p, TextPart) else p for p in content]
    name = fn(m.name) if m.name else m.name
    calls = m.tool_calls
    if calls:
        calls = [ToolCall(c.id, c.name, _map_arguments(c.arguments, fn), cache=c.cache) for c in calls]
    reasoning = m.reasoning
    if reasoning:  # a client could put anything in a thinking block: it is read like any text
        reasoning = [{**b, "thinking": fn(b["thinking"])} if isinstance(b.get("thinking"), str)
                     and b["thinking"] else b for b in reasoning]
    return dataclasses.replace(m, content=content, name=name, tool_calls=calls, reasoning=reasoning)


def _map_values(value: Any, fn: TextFn) -> Any:
    """`fn` on every non-empty string value of a JSON tree. Keys stay: they are parameter and
    schema names the provider must read as written (a tool's property names, metadata keys)."""
    if isinstance(value, str):
        return fn(value) if value else value
    if isinstance(value, list):
        return [_map_values(v, fn) for v in value]
    if isinstance(value, dict):
        return {k: _map_values(v, fn) for k, v in value.items()}
    return value


def _map_tool(tool: Tool, fn: TextFn) -> Tool:
    description = fn(tool.description) if tool.description else tool.description
    return dataclasses.replace(tool, description=description, parameters=_map_values(tool.parameters, fn))


def map_request_texts(request: ChatRequest, fn: TextFn) -> ChatRequest:
    """A copy of `request` with `fn` applied to every provider-visible text, in a fixed order:
    messages, `user`, then everything else a client can put words in: tool definitions, stop
    sequences, a response format's schema, and the string values of passthrough parameters
    (`metadata`, `prediction`, `safety_identifier`, ...). The leak test
    (tests/integration/test_leak.py) sends personal data in each of them."""
    messages = [_map_message(m, fn) for m in request.messages]
    user = fn(request.user) if request.user else request.user
    tools = None if request.tools is None else [_map_tool(t, fn) for t in request.tools]
    stop = None if request.stop is None else [fn(x) if x else x for x in request.stop]
    return dataclasses.replace(request, messages=messages, user=user, tools=tools, stop=stop,
                               response_format=_map_values(request.response_format, fn),
                               extra=_map_values(request.extra, fn))


def request_texts(request: ChatRequest) -> list[str]:
    """The texts `map_request_texts` visits, in the same order (what detection runs on)."""
    texts: list[str] = []

    def collect(text: str) -> str:
        texts.append(text)
        return text

    map_request_texts(request, collect)
    return texts


# -- applying spans ------------------------------------------------------------------------


def redact_text(text: str, spans: Sequence[Span], vault: Vault) -> str:
    """`text` with each selected span replaced by its value's placeholder."""
    parts: list[str] = []
    pos = 0
    for span in select_spans(spans, len(text)):
        parts.append(text[pos:span.start])
        parts.append(vault.placeholder(span.entity, text[span.start:span.end]))
        pos = span.end
    parts.append(text[pos:])
    return "".join(parts)


@dataclass(slots=True)
class Redaction:
    """A redacted copy of a request, the vault to restore it, and counts by entity type."""

    request: ChatRequest
    vault: Vault
    entities: dict[str, int]


def redact_request(request: ChatRequest, spans: Sequence[Sequence[Span]]) -> Redaction:
    """Redact `request` given spans for each of `request_texts(request)`, in that order.

    Every detected value is first looked for in all the texts (`corral.privacy.consistency`),
    so it gets its placeholder wherever it occurs, also where the detector missed it.
    """
    texts = request_texts(request)
    if len(spans) != len(texts):
        raise ValueError(f"got spans for {len(spans)} texts, the request has {len(texts)}")
    spans, aliases = propagate(texts, spans)
    vault = Vault(choose_form(texts))
    vault.alias(aliases)
    counts: Counter[str] = Counter()
    pending = iter(spans)

    def apply(text: str) -> str:
        found = select_spans(next(pending), len(text))
        counts.update(entity_label(s.entity) for s in found)
        return redact_text(text, found, vault) if found else text

    redacted = map_request_texts(request, apply) if any(spans) else request
    return Redaction(redacted, vault, dict(counts))


def redact_texts(texts: Sequence[str], spans: Sequence[Sequence[Span]]
                 ) -> tuple[list[str], dict[str, int], Vault]:
    """Redact plain texts (embedding inputs) given spans for each: texts, counts, the vault.

    One vault for all of them, so a value gets the same placeholder in every input: an
    embedding of "[PERSON_1] called" stays comparable across the batch.
    """
    if len(spans) != len(texts):
        raise ValueError(f"got spans for {len(spans)} texts, expected {len(texts)}")
    spans, aliases = propagate(texts, spans)
    vault = Vault(choose_form(texts))
    vault.alias(aliases)
    counts: Counter[str] = Counter()
    out: list[str] = []
    for text, found in zip(texts, spans, strict=True):
        chosen = select_spans(found, len(text))
        counts.update(entity_label(s.entity) for s in chosen)
        out.append(redact_text(text, chosen, vault) if chosen else text)
    return out, dict(counts), vault


# -- showing spans to operators ------------------------------------------------------------


def mask(value: str) -> str:
    """First and last character only (``j******m``); short values entirely hidden."""
    if len(value) <= 2:
        return "*" * len(value)
    return value[0] + "*" * (len(value) - 2) + value[-1]


def span_report(span: Span, text: str, values: ShowValues = "masked") -> dict[str, Any]:
    """A span as JSON-ready data for the CLI and admin API; raw value only on request."""
    data: dict[str, Any] = {
        "start": span.start, "end": span.end, "entity": span.entity,
        "score": round(span.score, 4), "source": span.source,
    }
    value = span.text(text)
    if values == "raw":
        data["value"] = value
    elif values == "masked":
        data["value"] = mask(value)
    return data
