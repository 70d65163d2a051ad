"""Personal-data detection in German, French, Spanish, Italian, Dutch and Polish text.

    .venv/bin/python bench/pii_multilingual.py [--split dev|heldout|all] [--languages de,fr]

Prints one JSON object: per language, the detector with English only (`languages=["en"]`, the
default and the "before") and with the language's rules on (`["en", <lang>]`), measured on the
hand-written set in bench/data/pii_multilingual/ (README there). Definitions match
bench/pii_accuracy.py:
- a true span is found when one predicted span covers at least 90% of its characters (any entity);
  recall = found / true spans; a prediction is correct when it is the match of some true span;
  F2 = 5PR / (4P + R);
- direct identifiers: PERSON, ADDRESS, PHONE, EMAIL, NATIONAL_ID, IBAN;
- false spans: predictions on the personal-data-free control samples, per 1,000 characters;
- latency: median `detect()` time per sample (150-600 characters), after warm-up.
Rules were tuned on the dev split only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from corral.privacy.detect import PIIDetector

DATA = Path(__file__).resolve().parent / "data" / "pii_multilingual"
LANGUAGES = ("de", "fr", "es", "it", "nl", "pl")
DIRECT = frozenset({"PERSON", "ADDRESS", "PHONE", "EMAIL", "NATIONAL_ID", "IBAN"})
MATCH = 0.9


def covers(p: Any, a: int, b: int) -> bool:
    return min(b, p.end) - max(a, p.start) >= MATCH * (b - a)


def evaluate(detector: PIIDetector, samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Precision, recall, F2, direct-identifier recall, per-label recall, control false spans."""
    by_label: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # found, total
    n_pred = n_ok = 0
    control_chars = control_spans = 0
    times: list[float] = []
    misses: list[str] = []
    for sample in samples:
        text = sample["text"]
        t0 = time.perf_counter()
        preds = detector.detect(text)
        times.append(time.perf_counter() - t0)
        if sample["pii_free"]:
            control_chars += len(text)
            control_spans += len(preds)
            continue
        trues = [(s["start"], s["end"], s["label"]) for s in sample["spans"]]
        for a, b, label in trues:
            hit = any(covers(p, a, b) for p in preds)
            by_label[label][0] += hit
            by_label[label][1] += 1
            if not hit and len(misses) < 200:
                misses.append(f"{sample['id']} {label}: {text[a:b]!r}")
        n_pred += len(preds)
        n_ok += sum(any(covers(p, a, b) for a, b, _ in trues) for p in preds)
    found = sum(f for f, _ in by_label.values())
    total = sum(n for _, n in by_label.values())
    precision = n_ok / n_pred if n_pred else 0.0
    recall = found / total if total else 0.0
    f2 = 5 * precision * recall / (4 * precision + recall) if precision + recall else 0.0
    d_found = sum(by_label[x][0] for x in DIRECT)
    d_total = sum(by_label[x][1] for x in DIRECT)
    return {
        "precision": round(precision, 4), "recall": round(recall, 4), "f2": round(f2, 4),
        "direct_recall": round(d_found / d_total, 4) if d_total else None,
        "true_spans": total, "predicted_spans": n_pred,
        "control_false_spans_per_1000_chars": round(control_spans / control_chars * 1000, 3)
        if control_chars else None,
        "median_ms": round(statistics.median(times) * 1000, 2),
        "per_label": {k: {"recall": round(f / n, 4), "n": n} for k, (f, n) in sorted(by_label.items())},
        "misses": misses,
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", choices=("dev", "heldout", "all"), default="dev")
    ap.add_argument("--languages", default=",".join(LANGUAGES), help="comma-separated subset")
    ap.add_argument("--misses", action="store_true", help="list the spans not found (dev only)")
    ap.add_argument("--no-model", action="store_true", help="rules only")
    args = ap.parse_args()
    if args.misses and args.split != "dev":
        ap.error("--misses lists dev-split errors only: held-out errors must not steer tuning")
    english = PIIDetector(use_model=not args.no_model)
    english.warmup()
    out: dict[str, Any] = {"split": args.split, "languages": {}}
    totals: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for lang in args.languages.split(","):
        samples = json.loads((DATA / f"{lang}.json").read_text(encoding="utf-8"))
        if args.split != "all":
            samples = [s for s in samples if s["split"] == args.split]
        local = PIIDetector(languages=["en", lang], use_model=not args.no_model)
        before, after = evaluate(english, samples), evaluate(local, samples)
        if not args.misses:
            before.pop("misses")
            after.pop("misses")
        out["languages"][lang] = {"english_only": before, "with_language": after}
        totals["english_only"].append(before)
        totals["with_language"].append(after)
    out["mean"] = {
        name: {k: round(statistics.mean(r[k] for r in rows), 4)
               for k in ("precision", "recall", "f2", "direct_recall",
                         "control_false_spans_per_1000_chars", "median_ms")}
        for name, rows in totals.items()
    }  # fmt: skip
    print(json.dumps(out, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
