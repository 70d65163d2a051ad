"""Build the multilingual PII evaluation set from hand-written templates.

Run from the repository root:

    .venv/bin/python bench/data/pii_multilingual/build.py

Each ``templates/<lang>.txt`` holds hand-written samples in marked-up form. A span is written
``[[LABEL:value]]``; a value starting with ``@`` is produced by a generator of ``identifiers.py``
(national IDs and IBANs, with valid check digits), e.g. ``[[NATIONAL_ID:@pesel|1985-03-12|F]]``.
The markup is compiled into plain text plus character offsets and written to ``<lang>.json``. Output is
deterministic: the generators draw from ``random.Random`` seeded per language.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import sys
from collections import Counter
from pathlib import Path

# Run as a script, this file's directory is on sys.path.
from identifiers import GENERATORS, iban_check, national_id_valid

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
LANGS = ("de", "fr", "es", "it", "nl", "pl")
SEED = 20261203
LABELS = (
    "PERSON",
    "ADDRESS",
    "PHONE",
    "EMAIL",
    "NATIONAL_ID",
    "IBAN",
    "DATE_OF_BIRTH",
    "LOCATION",
    "ORGANIZATION",
)
N_PII = 40
N_CONTROL = 10
MIN_LEN, MAX_LEN = 150, 600
# Titles and honorifics that must stay outside a PERSON span (checked on the span's first word).
HONORIFICS = frozenset(
    "Herr Herrn Frau Dr Dr. Dra. Prof. M. Mme Mlle Me Sr. Sra. Srta. D. Dña. Dott. Dott.ssa Sig. Sig.ra "
    "Avv. Ing. Dhr. Mevr. Mr. Pan Pani Pana Panu Panią Panem Panie dr mgr Madame Monsieur "
    "Mademoiselle Maître Docteur Señor Señora Don Doña Signor Signora Signore Meneer Mevrouw".split()
)
MARKUP = re.compile(r"\[\[([A-Z_]+):(.+?)\]\]", re.DOTALL)


# ---------------------------------------------------------------- template compiling


def read_templates(lang: str) -> tuple[list[str], list[str]]:
    """Read ``templates/<lang>.txt``: samples separated by ``---`` lines, in two sections."""
    sections: dict[str, list[str]] = {"pii": [], "control": []}
    current: str | None = None
    buf: list[str] = []

    def flush() -> None:
        """Close the sample being read."""
        text = "\n".join(buf).strip()
        if text:
            assert current is not None, f"{lang}: sample before a section header"
            sections[current].append(text)
        buf.clear()

    for line in (TEMPLATES / f"{lang}.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            continue
        if line.startswith("=== "):
            flush()
            current = line[4:].strip()
            assert current in sections, line
        elif line.strip() == "---":
            flush()
        else:
            buf.append(line.rstrip())
    flush()
    return sections["pii"], sections["control"]


def compile_markup(lang: str, source: str, rng: random.Random) -> tuple[str, list[dict[str, object]]]:
    """Turn ``[[LABEL:value]]`` markup into plain text and span offsets."""
    out: list[str] = []
    spans: list[dict[str, object]] = []
    pos = 0
    length = 0
    for m in MARKUP.finditer(source):
        before = source[pos : m.start()]
        out.append(before)
        length += len(before)
        label, value = m.group(1), m.group(2)
        assert label in LABELS, f"unknown label {label!r}"
        if value.startswith("@"):
            name, *args = value[1:].split("|")
            value = GENERATORS[name](rng, args)
        assert value == value.strip() and value, f"bad span value {value!r}"
        spans.append({"start": length, "end": length + len(value), "label": label, "value": value})
        out.append(value)
        length += len(value)
        pos = m.end()
    out.append(source[pos:])
    text = "".join(out)
    assert "[[" not in text and "]]" not in text, f"stray markup in {text[:80]!r}"
    for span in spans:
        start, end = span["start"], span["end"]
        assert isinstance(start, int) and isinstance(end, int)
        assert text[start:end] == span["value"], span
        if span["label"] == "PERSON":
            assert str(span["value"]).split()[0] not in HONORIFICS, f"title inside span {span['value']!r}"
        if span["label"] == "NATIONAL_ID":
            assert national_id_valid(lang, str(span["value"])), f"invalid national ID {span['value']!r}"
        if span["label"] == "IBAN":
            assert iban_check(str(span["value"])), f"invalid IBAN {span['value']!r}"
    return text, spans


def _label_counts(spans: list[dict[str, object]]) -> Counter[str]:
    """Count spans per label."""
    return Counter(str(s["label"]) for s in spans)


def assign_splits(lang: str, group: str, span_lists: list[list[dict[str, object]]]) -> list[str]:
    """Split rule: samples are paired in file order (0-1, 2-3, ...) within their group and one of
    each pair goes to dev, the other to heldout. The dev member is the one that leaves the running
    per-label counts of dev and heldout closer to equal; on a tie, the parity of
    sha256("<lang>:<group>:<pair number>") picks it. Exactly half of each group is dev."""
    dev: Counter[str] = Counter()
    held: Counter[str] = Counter()
    splits: list[str] = []
    for k in range(0, len(span_lists), 2):
        a, b = _label_counts(span_lists[k]), _label_counts(span_lists[k + 1])

        def imbalance(d: Counter[str], h: Counter[str]) -> int:
            """Sum over labels of |dev - heldout|."""
            return sum(abs(d[label] - h[label]) for label in LABELS)

        cost_a_dev = imbalance(dev + a, held + b)
        cost_b_dev = imbalance(dev + b, held + a)
        if cost_a_dev == cost_b_dev:
            first_dev = hashlib.sha256(f"{lang}:{group}:{k // 2}".encode()).digest()[0] % 2 == 0
        else:
            first_dev = cost_a_dev < cost_b_dev
        splits += ["dev", "heldout"] if first_dev else ["heldout", "dev"]
        dev, held = (dev + a, held + b) if first_dev else (dev + b, held + a)
    return splits


def build_language(lang: str) -> list[dict[str, object]]:
    """Compile one language's templates into records (see ``assign_splits`` for the split)."""
    rng = random.Random(f"{SEED}-{lang}")
    pii, control = read_templates(lang)
    assert len(pii) == N_PII, f"{lang}: {len(pii)} PII samples, want {N_PII}"
    assert len(control) == N_CONTROL, f"{lang}: {len(control)} controls, want {N_CONTROL}"
    records: list[dict[str, object]] = []
    for group, pii_free in ((pii, False), (control, True)):
        compiled = [compile_markup(lang, source, rng) for source in group]
        splits = assign_splits(lang, "control" if pii_free else "pii", [spans for _, spans in compiled])
        for (text, spans), split in zip(compiled, splits, strict=True):
            ident = f"{lang}-{len(records) + 1:03d}"
            assert MIN_LEN <= len(text) <= MAX_LEN, f"{ident}: length {len(text)}: {text[:60]!r}"
            assert bool(spans) != pii_free, f"{ident}: spans={len(spans)} pii_free={pii_free}"
            records.append({"id": ident, "split": split, "text": text, "spans": spans, "pii_free": pii_free})
    return records


def print_counts(all_records: dict[str, list[dict[str, object]]]) -> None:
    """Print span counts per language x label x split, plus sample counts."""
    header = f"{'label':<14}" + "".join(f"{lang + ' dev/ho':>14}" for lang in LANGS)
    print(header)
    for label in ("all samples", "controls", *LABELS):
        cells = []
        for lang in LANGS:
            c: Counter[str] = Counter()
            for r in all_records[lang]:
                split = str(r["split"])
                if label == "all samples":
                    c[split] += 1
                elif label == "controls":
                    c[split] += bool(r["pii_free"])
                else:
                    spans = r["spans"]
                    assert isinstance(spans, list)
                    c[split] += sum(1 for s in spans if s["label"] == label)
            cells.append(f"{c['dev']}/{c['heldout']}")
        print(f"{label:<14}" + "".join(f"{cell:>14}" for cell in cells))


def main() -> int:
    """Build every language file and print the counts."""
    all_records: dict[str, list[dict[str, object]]] = {}
    for lang in LANGS:
        if not (TEMPLATES / f"{lang}.txt").exists():
            print(f"skip {lang}: no templates", file=sys.stderr)
            continue
        records = build_language(lang)
        all_records[lang] = records
        (HERE / f"{lang}.json").write_text(
            json.dumps(records, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
    if len(all_records) == len(LANGS):
        print_counts(all_records)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
