"""A name found in full makes its parts names elsewhere in the same text.

Meeting notes and messages introduce a person once in full and then use the given name or the
surname alone: "present: Pablo Molina, Laura Gil ... Laura takes the client ... Pablo sends the
quote". The models see the lone "Laura" without the context that made "Laura Gil" a name. Once
the full name is found, each of its parts (capitalised, three letters or more, not a particle)
is a name wherever it stands alone in the same text, in the same letter case; so is the full
name where it is repeated (a signature quoted twice: ">Ella H. Snider ... >Ella H. Snider").
Request-wide consistency (`corral.privacy.consistency`) then carries the values across messages.
"""

from __future__ import annotations

import re

from corral.privacy.detect import entities as E
from corral.privacy.detect.intervals import Disjoint
from corral.privacy.detect.windows import cores
from corral.privacy.types import Span

_PART = re.compile(r"[^\W\d_][^\W\d_'\u2019-]{2,40}")
# Particles and honorifics inside a name span: never names on their own.
_NOT_A_PART = frozenset(
    "van von der den de del della di da dos das les la le mr mrs ms dr prof herr frau jr sr".split()
)
_PART_REACH = 48  # longer than any part the pattern admits (41 characters)
_MAX_PARTS = 64  # distinct parts looked for per text: bounds the work on a text full of names
_MAX_FULL = 40  # a repeated full name is looked for like a part: within the same reach
_SCORE = 0.9  # of the full name's score: the part is found by association, not by context


def name_part_spans(spans: list[Span], text: str) -> list[Span]:
    """PERSON spans for lone parts of the multi-word names among spans (sorted, disjoint)."""
    parts: dict[str, float] = {}
    for s in spans:
        if s.entity != E.PERSON:
            continue
        words = _PART.findall(text, s.start, s.end)
        if len(words) < 2:
            continue
        full = text[s.start : s.end]
        if len(full) <= _MAX_FULL and "\n" not in full and len(parts) < _MAX_PARTS:
            parts[full] = max(parts.get(full, 0.0), s.score)
        for word in words:
            if word[0].isupper() and word.lower() not in _NOT_A_PART and len(parts) < _MAX_PARTS:
                parts[word] = max(parts.get(word, 0.0), s.score * _SCORE)
    if not parts:
        return []
    taken = Disjoint()
    for s in spans:
        taken.add(s.start, s.end)
    added: list[Span] = []
    alternatives = "|".join(map(re.escape, sorted(parts, key=len, reverse=True)))  # full names first
    pattern = re.compile(r"(?<![\w'\u2019-])(?:" + alternatives + r")(?![\w'\u2019-])")
    # One search call holds the GIL for its whole length: search window by window (a part is at
    # most 41 characters, so a window reads that far past its core and keeps what starts in it).
    for _, core, core_end, _ in cores(len(text)):
        for m in pattern.finditer(text, core, min(len(text), core_end + _PART_REACH)):
            if m.start() >= core_end:
                break
            if not taken.overlaps(m.start(), m.end()):
                added.append(Span(m.start(), m.end(), E.PERSON, parts[m.group()], "model"))
                taken.add(m.start(), m.end())
    return added
