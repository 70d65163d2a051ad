"""Citation markers in a grounded answer -> OpenAI's `file_citation` annotations.

The model is given numbered sources and asked to cite them as `[1]`, `[2][3]` or `[1, 3]`
after the statements they support (corral.knowledge.grounding). It lives with the knowledge
base, not the Responses API, because grounded chat completions (a route's `knowledge`
option) read the same markers: there the text is left as written and only `cited` (the
source numbers, in the order first cited) is reported. A marker whose numbers all
name a source is taken out of the text, with the spaces before it, and becomes one
annotation per distinct file it cites: `{"type": "file_citation", "file_id", "filename",
"index"}`, where `index` is the position in the returned text (in characters) at which the
marker stood, as OpenAI places its own (its citation tokens are taken out of the text too).
Anything else in brackets stays as written: `[7]` with five sources, `[2024]`, `arr[1]`
(a bracket straight after a letter, digit, `_` or `)` is code or maths, not a citation).

`Citer` does this on a stream: it holds back at most a short tail that may still become a
marker (trailing spaces, an unclosed `[12`), so a marker split across deltas is still found
and the client never sees one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Protocol

MARKER = re.compile(r"\s*\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")
# What a stream's tail may be while a marker is still arriving: spaces, then "[" digits and commas.
PENDING = re.compile(r"\s*(?:\[[\d\s,]*)?$")
MAX_HELD = 32  # characters held back at most: more is never the start of a marker
NOT_AFTER = re.compile(r"[\w)]")  # a bracket right after these is an index or a call, not a citation


class Cited(Protocol):
    """What a source number points at (corral.knowledge.grounding.Source)."""

    @property
    def file_id(self) -> str: ...

    @property
    def filename(self) -> str: ...


class Citer:
    """Feeds an answer's text through, markers out and annotations collected; one per text item."""

    def __init__(self, sources: Sequence[Cited]) -> None:
        self.sources = sources
        self.annotations: list[dict[str, Any]] = []
        self.cited: list[int] = []  # source numbers, in the order the answer first cites them
        self._held = ""
        self._length = 0  # characters of clean text handed out so far
        self._last = ""  # the last character handed out (for a marker at the start of a delta)

    def feed(self, delta: str, *, final: bool = False) -> tuple[str, list[dict[str, Any]]]:
        """The text to hand out now and the annotations it adds; `final` flushes what was held."""
        text = self._held + delta
        out: list[str] = []
        added: list[dict[str, Any]] = []
        start = 0
        for match in MARKER.finditer(text):
            numbers = self._numbers(match, text)
            if numbers is None:
                continue
            self._emit(out, text[start:match.start()])
            added += self._cite(numbers)
            self._last = "]"  # so `[1][2]` split across deltas reads as it does whole
            start = match.end()
        tail = text[start:]
        hold = len(tail) if final else self._hold_from(tail)
        self._emit(out, tail[:hold])
        self._held = tail[hold:]
        return "".join(out), added

    def _numbers(self, match: re.Match[str], text: str) -> list[int] | None:
        numbers = [int(n) for n in match.group(1).split(",")]
        if not all(1 <= n <= len(self.sources) for n in numbers):
            return None
        before = text[match.start() - 1] if match.start() > 0 else self._last
        if match.group(0)[0] == "[" and before and NOT_AFTER.match(before):
            return None
        return numbers

    def _hold_from(self, tail: str) -> int:
        found = PENDING.search(tail)
        at = found.start() if found is not None else len(tail)
        return at if len(tail) - at <= MAX_HELD else len(tail)

    def _emit(self, out: list[str], piece: str) -> None:
        if piece:
            out.append(piece)
            self._length += len(piece)
            self._last = piece[-1]

    def _cite(self, numbers: list[int]) -> list[dict[str, Any]]:
        added: list[dict[str, Any]] = []
        for n in numbers:
            if n not in self.cited:
                self.cited.append(n)
            source = self.sources[n - 1]
            note = {"type": "file_citation", "file_id": source.file_id, "filename": source.filename,
                    "index": self._length}
            if note not in self.annotations:  # the same file cited twice at one place: once
                self.annotations.append(note)
                added.append(note)
        return added


def cite(text: str, sources: Sequence[Cited]) -> tuple[str, list[dict[str, Any]]]:
    """A whole answer: its text without markers, and its annotations."""
    citer = Citer(sources)
    clean, _ = citer.feed(text, final=True)
    return clean, citer.annotations
