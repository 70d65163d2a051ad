"""Writes pairs.jsonl from the hand-written pairs in pairs_work.py and pairs_general.py.

    .venv/bin/python bench/data/semantic_cache/build.py [--check]

Deterministic: the same sources give the same file byte for byte. Ids are
`<domain>-<p|n|u><nnn>` in source order. The split is stratified by label within each domain:
pairs alternate dev, test, dev, ... in source order, so each (domain, label) is split 50/50
(the odd one out goes to dev). --check exits 1 if the file on disk differs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import pairs_general  # noqa: E402
import pairs_work  # noqa: E402

OUT = HERE / "pairs.jsonl"
LABELS = {"paraphrase": "p", "near_miss": "n", "unrelated": "u"}


def rows() -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for domain, blocks in (pairs_work.DOMAINS | pairs_general.DOMAINS).items():
        for label, code in LABELS.items():
            lines = [line for line in blocks[label].strip().splitlines() if line.strip()]
            for n, line in enumerate(lines):
                kind, a, b = (part.strip() for part in line.split(" | "))
                out.append({"id": f"{domain}-{code}{n + 1:03d}", "domain": domain, "a": a, "b": b,
                            "label": label, "kind": kind, "split": "dev" if n % 2 == 0 else "test"})
    return out


def validate(data: list[dict[str, str]]) -> None:
    """Every text once in the whole set: a repeated text would be its own nearest neighbour."""
    texts = Counter(t for r in data for t in (r["a"], r["b"]))
    repeated = [t for t, c in texts.items() if c > 1]
    if repeated:
        raise SystemExit(f"texts used more than once: {repeated}")
    for r in data:
        if r["a"] == r["b"] or not r["kind"]:
            raise SystemExit(f"bad pair {r['id']}")


def render(data: list[dict[str, str]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the file on disk, write nothing")
    args = parser.parse_args()
    data = rows()
    validate(data)
    text = render(data)
    if args.check:
        sys.exit(0 if OUT.exists() and OUT.read_text(encoding="utf-8") == text else 1)
    OUT.write_text(text, encoding="utf-8")
    counts = Counter((r["label"], r["split"]) for r in data)
    print(json.dumps({"pairs": len(data), "by_label_split": {f"{k[0]}/{k[1]}": v for k, v in
                                                             sorted(counts.items())}}))


if __name__ == "__main__":
    main()
