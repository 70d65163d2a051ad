"""Detection once per text: spans of long texts remembered, so repeated text costs no model time.

Detection is the gateway's largest CPU cost (~100 us per character with the models), and much
of what a request carries was sent before: a chat's earlier turns come back with every new
turn, a service sends the same instructions with every request, and retrieved sources repeat
across the questions that find them. The case study's reports spent ~70% of the gateway's CPU
in detection, most of it over the same template chunks.

How a request's texts are detected (`detect_texts`):

- A text of at least `MIN_CHARS` characters is a unit of its own: detected alone, and its
  spans remembered under a digest of the text. Alone, not joined with its neighbours, so a
  text's spans are the same whichever request it arrives in (a remembered answer is the
  answer).
- Known segments inside a text (`segments`: the retrieved sources a grounding step placed in
  the prompt verbatim) are cut out and handled the same way; the text around them (headers,
  file names) is detected like a short text.
- Short texts and the pieces around segments are joined and detected in one call, as before
  (one model call for many small texts: see corral.privacy.stage).

What is remembered is the detector's spans (offsets and types), not values, keyed by a
BLAKE2b digest; the policy's filter applies after, per request. Request-wide consistency
(corral.privacy.consistency) still runs over all texts afterwards. Bounded: `max_entries`,
least recently used first out.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

from corral.privacy.types import Span

MIN_CHARS = 256  # shorter texts are cheap to detect and are joined instead (one model call)
MAX_ENTRIES = 8192  # ~1 MB of spans and digests

Detect = Callable[[str], list[Span]]
DetectJoined = Callable[[Sequence[str]], list[list[Span]]]


class DetectionMemo:
    """Spans by text digest, least recently used evicted; safe across detection threads."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._spans: OrderedDict[bytes, tuple[Span, ...]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(text: str) -> bytes:
        return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def spans(self, text: str, detect: Detect) -> list[Span]:
        """The text's spans: remembered, or detected now (outside the lock) and remembered."""
        key = self.key(text)
        with self._lock:
            found = self._spans.get(key)
            if found is not None:
                self._spans.move_to_end(key)
                self.hits += 1
                return list(found)
            self.misses += 1
        spans = detect(text)
        with self._lock:
            self._spans[key] = tuple(spans)
            while len(self._spans) > self.max_entries:
                self._spans.popitem(last=False)
        return spans

    def __len__(self) -> int:
        return len(self._spans)


def _pieces(text: str, segments: Sequence[str]) -> list[tuple[int, str, bool]]:
    """(offset, piece, remembered) covering `text`: each segment found in it (left to right,
    not overlapping) as a remembered piece, the text between them as plain pieces."""
    cuts: list[tuple[int, int]] = []
    for segment in segments:
        at = text.find(segment)
        while at >= 0 and any(a < at + len(segment) and at < b for a, b in cuts):
            at = text.find(segment, at + 1)
        if at >= 0:
            cuts.append((at, at + len(segment)))
    pieces: list[tuple[int, str, bool]] = []
    pos = 0
    for a, b in sorted(cuts):
        if a > pos:
            pieces.append((pos, text[pos:a], False))
        pieces.append((a, text[a:b], True))
        pos = b
    if pos < len(text):
        pieces.append((pos, text[pos:], False))
    return pieces


def detect_texts(texts: Sequence[str], memo: DetectionMemo, detect: Detect, detect_joined: DetectJoined,
                 segments: Sequence[str] = ()) -> list[list[Span]]:
    """Spans per text (see the module): long units through the memo, the rest in one joined call."""
    long_segments = [s for s in dict.fromkeys(segments) if len(s) >= MIN_CHARS]
    out: list[list[Span]] = [[] for _ in texts]
    short: list[tuple[int, int, str]] = []  # (text index, offset, piece) for the joined call
    for i, text in enumerate(texts):
        if not text:
            continue
        inside = [s for s in long_segments if len(s) < len(text)]
        pieces = _pieces(text, inside) if inside else [(0, text, len(text) >= MIN_CHARS)]
        for offset, piece, remembered in pieces:
            if remembered or len(piece) >= MIN_CHARS:
                out[i].extend(_shifted(memo.spans(piece, detect), offset))
            else:
                short.append((i, offset, piece))
    if short:
        for (i, offset, _), spans in zip(short, detect_joined([p for _, _, p in short]), strict=True):
            out[i].extend(_shifted(spans, offset))
    for found in out:
        found.sort(key=lambda s: (s.start, s.end))  # in text order, as one detector call gives them
    return out


def _shifted(spans: Sequence[Span], offset: int) -> list[Span]:
    if not offset:
        return list(spans)
    return [Span(s.start + offset, s.end + offset, s.entity, s.score, s.source) for s in spans]
