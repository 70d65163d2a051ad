"""Rules run over long texts in bounded, overlapping windows.

The regex engine holds the GIL for the whole of one search call, and a search over a text with
no match is one call: on a 1 MB prompt each pattern froze every other thread, the event loop
included, for tens of milliseconds. Windows of 16 K characters bound one call to a few
milliseconds. A window also reads `CONTEXT` characters before its core (for look-behinds and
word boundaries) and `OVERLAP` after it, and reports only the spans that start in its core,
so every span up to `OVERLAP` characters long is found exactly once, as in the whole text.
Rules whose matches may be longer (PEM private keys) run on the whole text and must bound
each search call themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from corral.privacy.types import Span

WINDOW = 16_384
OVERLAP = 2_048  # the longest match a windowed rule may report (URLs are capped at 2,000)
CONTEXT = 2_048


def cores(length: int) -> Iterator[tuple[int, int, int, int]]:
    """(read_from, core_start, core_end, read_to) for each window over a text of `length`."""
    core = 0
    while core < length:
        core_end = min(length, core + WINDOW)
        yield max(0, core - CONTEXT), core, core_end, min(length, core_end + OVERLAP)
        core = core_end


def windowed(finder: Callable[[str], Iterator[Span]], text: str) -> Iterator[Span]:
    """`finder`'s spans over `text`, computed window by window."""
    if len(text) <= WINDOW + OVERLAP:
        yield from finder(text)
        return
    for low, core, core_end, high in cores(len(text)):
        for s in finder(text[low:high]):
            if core <= s.start + low < core_end:
                yield Span(s.start + low, s.end + low, s.entity, s.score, s.source)
