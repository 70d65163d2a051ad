"""Candidate input rules from rejected prompts: the phrases most of them share.

The texts are prompt excerpts as stored (redacted): placeholders such as ``[EMAIL_1]`` are
dropped first, since rules match the client's raw text, where a placeholder never appears.
A candidate is a literal phrase of two to eight words, ranked by how many texts contain it,
then by length; the reviewer reads them and creates the rule (``POST /admin/input-rules``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

_PLACEHOLDER = re.compile(r"(?:\[\[|\[|<<|\{\{|⟦)[A-Z][A-Z0-9_]*(?:\]\]|\]|>>|\}\}|⟧)")
_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)?")
MAX_WORDS = 8
MIN_WORDS = 2
MAX_TEXTS = 500
MAX_TEXT_CHARS = 2000


def _words(text: str) -> list[str]:
    return _WORD.findall(_PLACEHOLDER.sub(" ", text[:MAX_TEXT_CHARS]).casefold())


def suggest(texts: Sequence[str], limit: int = 5) -> list[dict[str, Any]]:
    """Up to ``limit`` literal candidates, each with how many of the texts it matches."""
    docs = [_words(t) for t in texts[:MAX_TEXTS] if t]
    docs = [d for d in docs if d]
    if not docs:
        return []
    seen: Counter[tuple[str, ...]] = Counter()
    for words in docs:
        grams = {tuple(words[i:i + n]) for n in range(MIN_WORDS, MAX_WORDS + 1)
                 for i in range(len(words) - n + 1)}
        seen.update(grams)
    need = 2 if len(docs) > 1 else 1
    ranked = sorted((g for g, c in seen.items() if c >= need), key=lambda g: (-seen[g], -len(g), g))
    picked: list[tuple[str, ...]] = []
    for gram in ranked:
        phrase = " ".join(gram)
        if any(phrase in " ".join(p) for p in picked):  # a shorter part of a phrase already taken
            continue
        picked.append(gram)
        if len(picked) == limit:
            break
    return [{"pattern": " ".join(g), "kind": "literal", "matches": seen[g], "of": len(docs)} for g in picked]
