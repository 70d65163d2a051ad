"""Request-wide consistency: a value detected in one text is replaced wherever it occurs.

The detector sees each text in context and can miss a value in one message that it found in
another (a name in a terse tool result, an upper-case signature, a name broken over a line).
After detection, `propagate` searches every text of the request for every detected value and
adds a span where one was missed, so the value gets its placeholder everywhere.

The rule (what counts as "the same value"):

- Every occurrence must start and end on a word boundary (``Ann`` is not found in ``Anna``).
- Single-token values (no whitespace) are matched in their exact letter case only: a name
  detected as ``May`` or ``Will`` replaces ``May``, never ``may`` or ``will``.
- Multi-token values of name-like types (`FOLDED`: PERSON, ADDRESS, LOCATION, ORGANIZATION),
  and e-mail addresses, also match in any letter case and with any whitespace between the
  tokens (``JOHN SMITH``, ``John  Smith``, ``John\\nSmith``); every variant gets the placeholder
  of the first-seen form, which is also what the answer restores (the model writes one
  placeholder and cannot say which variant it meant).
- Other types (card numbers, IBANs, phone numbers, secrets, ...) match exactly.
- Values shorter than `MIN_CHARS` are not propagated; at most `MAX_VALUES` distinct values are
  (the first seen, in text order): past that, detection's own spans still apply. The search
  itself is linear in the text (see `Propagation`).
- A propagated span never cuts into a detected one: it is dropped if it overlaps a detected
  span without containing it.

Measured (bench/pii_consistency.py, docs/privacy-detection.md "Request-wide consistency"): on 30
multi-turn conversations, occurrences redacted rise from 0.879 to 1.000 and values with one
placeholder everywhere from 0.267 to 0.987; the search adds ~0.3 ms to a 10-message,
4,000-character request, 15-22 ms to a 16,384-character one made of nothing but detected names.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from corral.privacy.spans import select_spans
from corral.privacy.types import Span

FOLDED = frozenset({"PERSON", "ADDRESS", "LOCATION", "ORGANIZATION", "EMAIL"})
MIN_CHARS = 3
MAX_VALUES = 1000
FIND_KEYS = 64  # up to this many distinct first tokens, str.find per token; above, a token pass
MAX_PER_TOKEN = 16  # values compared at one first token
SOURCE = "propagated"
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"\w+")


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


def fold_key(value: str) -> str:
    """The key variants of a name-like value share: lower case, whitespace runs as one space."""
    return _SPACE.sub(" ", value.strip()).lower()


@dataclass(frozen=True, slots=True)
class _Value:
    text: str  # first-seen form
    entity: str
    score: float
    folds: bool  # matched in any letter case, any whitespace between tokens
    lead: int  # characters before its first word token (``+44 ...``)
    pieces: tuple[str, ...]  # its whitespace-separated pieces, lower-cased when it folds
    lower: str

    @classmethod
    def of(cls, text: str, span: Span) -> _Value:
        entity = span.entity.upper()
        folds = entity in FOLDED and (entity == "EMAIL" or len(text.split()) > 1)
        first = _WORD.search(text)
        lead = first.start() if first else 0
        pieces = tuple(p.lower() for p in text.split()) if folds else (text,)
        return cls(text, span.entity, span.score, folds, lead, pieces, text.lower())

    @property
    def first_token(self) -> str:
        m = _WORD.search(self.text)
        token = m.group() if m else ""
        return token.lower() if self.folds else token

    def match(self, text: str, lower: str | None, start: int) -> int:
        """The end of this value (or a variant) at text[start:], or -1; on word boundaries.

        `lower` is text.lower() when that keeps every offset (the fast path for case variants).
        """
        if text.startswith(self.text, start):
            stop = start + len(self.text)
        elif not self.folds:
            return -1
        elif lower is not None and lower.startswith(self.lower, start):
            stop = start + len(self.lower)
        else:
            stop = self._match_folded(text, start)
        if stop < 0 or (stop < len(text) and _is_word(text[stop]) and _is_word(self.text[-1])):
            return -1
        return stop

    def _match_folded(self, text: str, pos: int) -> int:
        for i, piece in enumerate(self.pieces):
            if i:
                gap = pos
                while gap < len(text) and text[gap].isspace():
                    gap += 1
                if gap == pos:
                    return -1
                pos = gap
            if text[pos:pos + len(piece)].lower() != piece:
                return -1
            pos += len(piece)
        return pos


class Propagation:
    """Detected values of one request, and a search for their occurrences in any text.

    Values are indexed by their first word token. With few distinct first tokens (`FIND_KEYS`)
    each is looked for with `str.find`, at C speed, up to a budget of finds; otherwise one
    pass over the text's word tokens looks each up in the index. Only a hit is compared
    further, with at most `MAX_PER_TOKEN` values per first token (the first seen; others keep
    detection's spans only), so the work stays linear in the text whatever the values.
    """

    def __init__(self, texts: Sequence[str], spans: Sequence[Sequence[Span]]) -> None:
        self.values: dict[str, _Value] = {}  # exact form -> value
        self.folded: dict[str, _Value] = {}  # fold_key -> value
        self.aliases: dict[str, str] = {}  # a variant's text -> the first-seen form
        for text, found in zip(texts, spans, strict=True):
            for span in sorted(found, key=lambda s: s.start):
                self._add(span.text(text), span)
        self._exact: dict[str, list[_Value]] = {}
        self._fold: dict[str, list[_Value]] = {}
        for value in self.values.values():
            index = self._fold if value.folds else self._exact
            candidates = index.setdefault(value.first_token, [])
            if len(candidates) < MAX_PER_TOKEN:
                candidates.append(value)
        self._by_find = len(self._exact) + len(self._fold) <= FIND_KEYS

    def _add(self, raw: str, span: Span) -> None:
        text = raw.strip()
        if len(text) < MIN_CHARS or raw in self.values or raw in self.aliases or not _WORD.search(text):
            return
        key = fold_key(text)
        same = self.folded.get(key)
        if same is not None:  # a case or whitespace variant the detector found on its own
            self.aliases[raw] = same.text
            return
        if len(self.values) >= MAX_VALUES:
            return
        value = _Value.of(text, span)
        self.values[text] = value
        if text != raw:
            self.aliases[raw] = text
        if value.folds:
            self.folded[key] = value

    def find(self, text: str) -> list[Span]:
        """Every occurrence of a detected value (or a variant) in `text`; variants become aliases."""
        lower: str | None = text.lower() if self._fold else text
        if lower is not None and len(lower) != len(text):  # "İ" lower-cases to two characters
            lower = None
        hits = self._hits_by_find(text, lower) if lower is not None and self._by_find else None
        if hits is None:
            hits = self._hits_by_tokens(text, lower)
        out: list[Span] = []
        end = 0
        for start, stop, value in sorted(hits, key=lambda h: (h[0], h[0] - h[1])):
            if start < end:
                continue
            end = stop
            if value.folds and text[start:stop] != value.text:
                self.aliases.setdefault(text[start:stop], value.text)
            out.append(Span(start, stop, value.entity, value.score, SOURCE))
        return out

    def _hits_by_find(self, text: str, lower: str) -> list[tuple[int, int, _Value]] | None:
        """Few values: `str.find` of each first token, at C speed; None past a budget of finds
        (short first tokens such as ``9`` in an address can be found at every other word)."""
        hits: list[tuple[int, int, _Value]] = []
        budget = len(text) // 8 + 64
        for haystack, index in ((text, self._exact), (lower, self._fold)):
            for token, values in index.items():
                at = haystack.find(token)
                while at >= 0:
                    budget -= 1
                    if budget < 0:
                        return None
                    if (at == 0 or not _is_word(text[at - 1])) and (
                            at + len(token) == len(text) or not _is_word(text[at + len(token)])):
                        hits += self._at(text, lower, at, values)
                    at = haystack.find(token, at + len(token))
        return hits

    def _hits_by_tokens(self, text: str, lower: str | None) -> list[tuple[int, int, _Value]]:
        """Many values: one pass over the word tokens, each looked up in the indexes."""
        hits: list[tuple[int, int, _Value]] = []
        fold = bool(self._fold)
        for m in _WORD.finditer(text):
            token = m.group()
            values = self._exact.get(token)
            if values:
                hits += self._at(text, lower, m.start(), values)
            values = self._fold.get(token.lower()) if fold else None
            if values:
                hits += self._at(text, lower, m.start(), values)
        return hits

    @staticmethod
    def _at(text: str, lower: str | None, token_start: int, values: list[_Value]
            ) -> list[tuple[int, int, _Value]]:
        out = []
        for value in values:
            start = token_start - value.lead
            stop = value.match(text, lower, start) if start >= 0 else -1
            if stop > start:
                out.append((start, stop, value))
        return out


def _compatible(extra: Span, chosen: Sequence[Span], starts: Sequence[int]) -> bool:
    """False when `extra` overlaps a detected span without containing it (it would cut it).

    `chosen` are the detected spans redaction keeps (non-overlapping, in order), `starts` theirs.
    """
    i = max(0, bisect_right(starts, extra.start) - 1)
    while i < len(chosen) and chosen[i].start < extra.end:
        d = chosen[i]
        if d.end > extra.start and not (extra.start <= d.start and d.end <= extra.end):
            return False
        i += 1
    return True


def propagate(texts: Sequence[str], spans: Sequence[Sequence[Span]]
              ) -> tuple[list[list[Span]], dict[str, str]]:
    """Spans per text with every missed occurrence of a detected value added, and the aliases
    (variant text -> first-seen form) the vault must give one placeholder."""
    if not any(spans):
        return [list(s) for s in spans], {}
    search = Propagation(texts, spans)
    out: list[list[Span]] = []
    for text, found in zip(texts, spans, strict=True):
        chosen = select_spans(found, len(text))
        starts = [s.start for s in chosen]
        have = {(s.start, s.end) for s in found}
        extra = [s for s in search.find(text) if (s.start, s.end) not in have]
        out.append([*found, *(s for s in extra if _compatible(s, chosen, starts))])
    return out, search.aliases
