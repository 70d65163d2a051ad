"""Document -> chunks that follow the document's structure, within a token budget, with overlap.

The rules, in order of precedence:

- A chunk never crosses a heading: each section (a heading and what follows it up to the
  next heading of the same or a higher level) is chunked on its own, and every chunk
  carries its `heading_path` (outermost first). A heading line is never split; it opens
  the first chunk of its section. (A "heading" longer than half the budget is not one and
  is read as a paragraph.)
- Blocks are packed whole while they fit: paragraphs, lists and tables keep together.
- A table over the budget is split by rows, each piece starting with the header row; a
  list over the budget by items; code by lines; a paragraph by sentences; a sentence over
  the budget by words (and a "word" over it, such as a base64 blob, by tokens).
- Consecutive chunks of one section overlap by whole sentences (or list items) taken from
  the end of the previous chunk, up to `overlap_tokens`; when the last sentence alone is
  longer, its last `overlap_tokens` tokens are used, cut at a word (none, when they are all
  inside one long word: a fragment of a credential is not repeated alone). Table and code pieces
  are not repeated as overlap (a table piece repeats its header instead).

Tokens are counted exactly with `corral.core.tokens` (o200k_base by default, the tokenizer
of current OpenAI models; `model` picks another), and every chunk's `tokens` is the count of
its final text, so `tokens <= max_tokens` always holds. The text is the document's own:
the heading path is metadata, for the embedder or the prompt to prefix as it sees fit.

Defaults: 200 tokens with 40 of overlap, for the built-in embedder's 256-word-piece window
(the measurement is beside DEFAULT_MAX_TOKENS); OpenAI's `auto` (800/400) is `OPENAI_AUTO`,
for clients that ask for it by name.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from corral.core.tokens import count_text, encoding_for_model
from corral.knowledge.types import AttributeValue, Block, Chunk, Document

OPENAI_AUTO = (800, 400)  # OpenAI file_search's `auto`: max_chunk_size_tokens, chunk_overlap_tokens
# Corral's defaults: 200 tokens, 40 overlap. Why: the built-in embedder (MiniLM-L6) reads only
# 256 word pieces of a text, about 216 o200k tokens (1.18 word pieces per token on the RAG set),
# so it embeds just the first quarter of an 800-token chunk. Measured by bench/chunk_sizes.py
# on ../shared/data/rag (recall@1 / recall@5; tokens that five chunks put in a prompt):
#   800/400: dense 0.564 / 0.858, BM25 0.803 / 0.973, 3,514 tokens
#   400/100: dense 0.615 / 0.882, BM25 0.772 / 0.960, 1,683 tokens
#   200/40:  dense 0.630 / 0.899, BM25 0.780 / 0.951,   783 tokens
# Dense retrieval gains 6.6 points at rank 1, BM25 loses 2.3, and for the same prompt budget
# (five 200-token chunks against one 800-token chunk) 200/40 finds the answer far more often
# (BM25 0.951 vs 0.803, dense 0.899 vs 0.564). A 20% overlap keeps a sentence cut at a chunk
# edge whole in one of the two chunks at a quarter of the index growth of OpenAI's 50%.
DEFAULT_MAX_TOKENS = 200
DEFAULT_OVERLAP_TOKENS = 40
MAX_HEADING_CHARS = 300  # a heading path entry is cut here: it is metadata, not content

_ABBREVIATIONS = frozenset({"e.g.", "i.e.", "etc.", "vs.", "mr.", "mrs.", "ms.", "dr.", "prof.", "st.",
                            "no.", "fig.", "eq.", "al.", "approx.", "inc.", "ltd.", "co.", "jr.", "sr."})
_BOUNDARY = re.compile(r"(?<=[.!?\u2026])[\"'\u201d\u2019)\]]*\s+(?=[\"'\u201c\u2018(\[]?\w)"
                       r"|(?<=[\u3002\uff01\uff1f])")


def split_sentences(text: str) -> list[str]:
    """Sentences by punctuation followed by space (or CJK full stops); common abbreviations
    and initials ("e.g.", "J. Smith") do not end a sentence. A rule of thumb, cheap enough to
    run on every paragraph: the chunker needs plausible cut points, not linguistics."""
    out: list[str] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        words = text[start:m.start()].rsplit(None, 1)
        last = words[-1].lower() if words else ""
        if last in _ABBREVIATIONS or re.fullmatch(r"(?:[a-z]\.)+", last):  # "J.", "p.m."
            continue
        if piece := text[start:m.start()].strip():
            out.append(piece)
        start = m.end()
    if rest := text[start:].strip():
        out.append(rest)
    return out


@dataclass(slots=True)
class _Unit:
    """An atomic piece to pack: never split further. `block` numbers the source block, so
    pieces of one block are joined with `joiner` and pieces of different blocks by a blank line."""

    text: str
    tokens: int
    block: int
    joiner: str = "\n"
    prose: bool = False  # sentences may be taken from it as overlap
    overlap: bool = False  # repeated from the previous chunk
    heading: bool = False


class _Chunker:
    def __init__(self, max_tokens: int, overlap_tokens: int, model: str) -> None:
        self.max = max_tokens
        self.overlap = overlap_tokens
        self.model = model

    def count(self, text: str) -> int:
        return count_text(text, self.model)

    # --- blocks -> units ---------------------------------------------------------------

    def units(self, block: Block, index: int) -> list[_Unit]:
        text = block.text.strip()
        tokens = self.count(text)
        if tokens <= self.max:
            return [_Unit(text, tokens, index, prose=block.kind in ("paragraph", "list"),
                          heading=block.kind == "heading")]
        if block.kind == "table":
            return self.table(text, index)
        if block.kind in ("list", "code"):
            pieces = [line for line in text.split("\n") if line.strip()]
            if block.kind == "code":
                return self.pack_lines(pieces, index)
            return [u for item in pieces for u in self.sentences(item, index, "\n")]
        return self.sentences(text, index, " ")

    def sentences(self, text: str, index: int, joiner: str) -> list[_Unit]:
        """A paragraph (or list item) too long for one chunk, as sentence units."""
        tokens = self.count(text)
        if tokens <= self.max:
            return [_Unit(text, tokens, index, joiner, prose=True)]
        out: list[_Unit] = []
        for sentence in split_sentences(text):
            n = self.count(sentence)
            if n <= self.max:
                out.append(_Unit(sentence, n, index, " ", prose=True))
            else:
                out += [_Unit(piece, m, index, " ", prose=True) for piece, m in self.words(sentence)]
        if out:
            out[0].joiner = joiner
        return out

    def words(self, text: str) -> Iterator[tuple[str, int]]:
        """A sentence over the budget, in word windows; a single word over it, in token windows."""
        current: list[str] = []
        used = 0
        for word in text.split():
            n = self.count(" " + word)
            if n > self.max:
                if current:
                    yield " ".join(current), self.count(" ".join(current))
                current, used = [], 0
                yield from self.token_windows(word)
                continue
            if used + n > self.max and current:
                piece = " ".join(current)
                yield piece, self.count(piece)
                current, used = [], 0
            current.append(word)
            used += n
        if current:
            piece = " ".join(current)
            yield piece, self.count(piece)

    def token_windows(self, text: str) -> Iterator[tuple[str, int]]:
        enc = encoding_for_model(self.model)
        tokens = enc.encode_ordinary(text)
        step = max(1, self.max - 2)  # decoding at a cut can re-tokenize slightly differently
        for start in range(0, len(tokens), step):
            piece = enc.decode(tokens[start:start + step])
            yield piece, self.count(piece)

    def pack_lines(self, lines: list[str], index: int, header: str = "") -> list[_Unit]:
        """Lines (table rows, code) packed into pieces within the budget, each starting with
        `header` when there is one; a line too long even alone is split by words."""
        out: list[_Unit] = []
        base = self.count(header + "\n") if header else 0
        current: list[str] = [header] if header else []
        used = base
        for line in lines:
            n = self.count(line) + 1
            if used + n > self.max and len(current) > (1 if header else 0):
                piece = "\n".join(current)
                out.append(_Unit(piece, self.count(piece), index))
                current, used = [header] if header else [], base
            if used + n > self.max:  # the line alone (with the header) is over the budget
                out += [_Unit(p, m, index, " ") for p, m in self.words(line)]
                continue
            current.append(line)
            used += n
        if len(current) > (1 if header else 0):
            piece = "\n".join(current)
            out.append(_Unit(piece, self.count(piece), index))
        return self.fit(out)

    def table(self, text: str, index: int) -> list[_Unit]:
        header, *rows = text.split("\n")
        if self.count(header) > self.max // 2:  # a header that big leaves no room: rows alone
            return self.pack_lines([header, *rows], index)
        units = self.pack_lines(rows, index, header)
        for unit in units:
            unit.joiner = "\n\n"  # each piece stands alone, header included
        return units

    def fit(self, units: list[_Unit]) -> list[_Unit]:
        """Pieces whose exact count came out over the budget (a rare tokenizer merge at a
        joint) are split once more by words."""
        out: list[_Unit] = []
        for u in units:
            if u.tokens <= self.max:
                out.append(u)
            else:
                out += [_Unit(p, m, u.block, " ") for p, m in self.words(u.text)]
        return out

    # --- units -> chunks -----------------------------------------------------------------

    @staticmethod
    def render(units: list[_Unit]) -> str:
        parts = [units[0].text] if units else []
        for prev, unit in itertools.pairwise(units):
            parts.append((unit.joiner if unit.block == prev.block else "\n\n") + unit.text)
        return "".join(parts)

    def overlap_from(self, units: list[_Unit]) -> list[_Unit]:
        """Whole sentences (or list items) from the end of `units`, up to `overlap` tokens."""
        out: list[_Unit] = []
        used = 0
        for unit in reversed(units):
            if not unit.prose:
                break
            segments = [(s, " " if n else "\n") for line in unit.text.split("\n")
                        for n, s in enumerate(split_sentences(line))]
            for text, joiner in reversed(segments):
                n = self.count(text)
                if used + n + 1 > self.overlap:
                    return out or self.tail(text, unit.block)
                out.insert(0, _Unit(text, n, unit.block, joiner, prose=True, overlap=True))
                used += n + 1
        return out

    def tail(self, sentence: str, block: int) -> list[_Unit]:
        """The last `overlap` tokens of a sentence too long to repeat whole, from a word start."""
        if self.overlap < 8:
            return []
        enc = encoding_for_model(self.model)
        text = enc.decode(enc.encode_ordinary(sentence)[-(self.overlap - 2):])
        if text[:1].isspace():
            text = text.strip()
        elif " " in text.strip():
            text = text.split(None, 1)[1]
        else:  # inside one long word: a key, a token, a blob. Its tail alone is what detection
            return []  # cannot recognise (a JWT's signature reached a redacting route's embedder)
        n = self.count(text)
        return [_Unit(text, n, block, " ", prose=True, overlap=True)] if 0 < n <= self.overlap else []

    def pack(self, units: list[_Unit]) -> Iterator[tuple[str, int]]:
        """Units packed greedily into chunks (estimate: each unit's tokens plus one per joint;
        the exact count of the rendered text decides, giving units back when it is over)."""
        current: list[_Unit] = []
        i = 0
        while True:
            if i < len(units):
                unit = units[i]
                if not current or sum(u.tokens + 1 for u in current) + unit.tokens <= self.max:
                    current.append(unit)
                    i += 1
                    continue
                if all(u.overlap for u in current):  # only overlap so far: shrink it to make room
                    current.pop(0)
                    continue
                if len(current) == 1 and current[0].heading and unit.prose:
                    pieces = self.split(unit)  # fill the chunk under a lone heading
                    if len(pieces) > 1:
                        units[i:i + 1] = pieces
                        continue
            if not any(not u.overlap for u in current):
                return
            text, n, kept, back = self.finish(current)
            i -= back
            yield text, n
            current = self.overlap_from(kept) if i < len(units) else []

    def split(self, unit: _Unit) -> list[_Unit]:
        """A prose unit that fits the budget alone, as its sentences."""
        pieces = [_Unit(s, self.count(s), unit.block, " ", prose=True) for s in split_sentences(unit.text)]
        if pieces:
            pieces[0].joiner = unit.joiner
        return self.fit(pieces)

    def finish(self, current: list[_Unit]) -> tuple[str, int, list[_Unit], int]:
        """The chunk's text, its exact tokens, the units kept and how many were given back:
        over the budget, the last new units go back (for a single one, the overlap is
        dropped instead) until it fits."""
        kept = list(current)
        back = 0
        while True:
            text = self.render(kept)
            n = self.count(text)
            new = [u for u in kept if not u.overlap]
            if n <= self.max or not new or len(kept) == len(new) == 1:
                return text, n, kept, back
            if len(new) > 1:
                kept.pop()
                back += 1
            else:
                kept = new


def _sections(blocks: list[Block], chunker: _Chunker) -> Iterator[tuple[tuple[str, ...], list[Block]]]:
    """(heading path, blocks) per section; a section's own heading is its first block. A
    heading with nothing under it before a deeper heading makes no chunk of its own: its text
    is in the heading path of the sections below it."""
    path: list[tuple[int, str]] = []
    current: list[Block] = []
    for block in blocks:
        if block.kind == "heading" and block.text.strip():
            if chunker.count(block.text) > chunker.max // 2:
                current.append(Block(block.text, "paragraph"))  # too long to be a heading
                continue
            bare = len(current) == 1 and current[0].kind == "heading" and current[0].level < block.level
            if current and not bare:
                yield tuple(text for _, text in path), current
            while path and path[-1][0] >= block.level:
                path.pop()
            path.append((block.level, " ".join(block.text.split())[:MAX_HEADING_CHARS]))
            current = [block]
        elif block.text.strip():
            current.append(block)
    if current:
        yield tuple(text for _, text in path), current


def chunk_id(store_id: str, file_id: str, position: int) -> str:
    """Stable per (store, file, position): re-ingesting a file reuses its ids."""
    digest = hashlib.sha256(f"{store_id}\0{file_id}\0{position}".encode()).hexdigest()
    return f"chunk_{digest[:24]}"


def chunk(document: Document, *, max_tokens: int = DEFAULT_MAX_TOKENS,
          overlap_tokens: int = DEFAULT_OVERLAP_TOKENS, store_id: str, file_id: str,
          attributes: Mapping[str, AttributeValue] | None = None, model: str = "gpt-4o") -> list[Chunk]:
    """The document's chunks in reading order (rules in the module docstring). Pure CPU:
    call it from a worker thread for large documents, as ingestion does."""
    if max_tokens < 16:
        raise ValueError("max_tokens must be at least 16")
    if not 0 <= overlap_tokens <= max_tokens // 2:
        raise ValueError("overlap_tokens must be between 0 and half of max_tokens (OpenAI's rule)")
    chunker = _Chunker(max_tokens, overlap_tokens, model)
    attrs = dict(attributes or {})
    out: list[Chunk] = []
    for path, blocks in _sections(document.blocks, chunker):
        units: list[_Unit] = []
        for index, block in enumerate(blocks):
            units += chunker.units(block, index)
        for text, tokens in chunker.pack(units):
            position = len(out)
            out.append(Chunk(id=chunk_id(store_id, file_id, position), store_id=store_id, file_id=file_id,
                             text=text, position=position, heading_path=path, tokens=tokens,
                             content_hash=hashlib.sha256(text.encode()).hexdigest(), attributes=attrs))
    return out
