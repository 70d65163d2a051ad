"""Accuracy, false-positive rate, latency and footprint of `corral.privacy.detect.PIIDetector`.

    .venv/bin/python bench/pii_accuracy.py [--dataset PATH] [--quick] [--no-model]

Prints one JSON object. Definitions (also in docs/privacy-detection.md):
- Dataset: presidio-research `synth_dataset_v2.json` (1,500 samples), every entity type merged
  into one "PII" label.
- Split, fixed before any tuning: a sample is in the dev half when the first byte of
  sha256(str(template_id)) is even, else held-out. Templates never straddle the halves.
- Match: a true span t is found when some predicted span p has |p ∩ t| / |t| >= 0.9 (characters).
  Recall = found true spans / true spans. A predicted span is correct when it is the match of
  some true span by that rule; precision = correct predictions / predictions. F2 weighs recall
  four times as much as precision: 5PR / (4P + R).
- False positives: every span flagged on the docstrings of the CPython standard library's
  top-level modules (text without personal data), per 1,000 characters. Docstrings with an even
  index were used for tuning, odd ones are reported as held-out.
- Latency: `detect()` on 317-character prompts cut from held-out samples, after warm-up.
- Load: seconds and RSS growth from before importing the detector to after its warm-up.
"""

from __future__ import annotations

import argparse
import ast
import glob
import hashlib
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import psutil

_PROC = psutil.Process()
_RSS0 = _PROC.memory_info().rss

DEFAULT_DATASET = Path(
    os.environ.get(
        "CORRAL_PII_DATASET",
        Path(__file__).resolve().parents[2] / "shared" / "data" / "pii" / "synth_dataset_v2.json",
    )
)
MATCH = 0.9
PROMPT_CHARS = 317
# The dataset's labels, as the detector's entities.
LABELS = {
    "PERSON": "PERSON", "TITLE": "PERSON", "STREET_ADDRESS": "ADDRESS", "ZIP_CODE": "ADDRESS",
    "GPE": "LOCATION", "ORGANIZATION": "ORGANIZATION", "CREDIT_CARD": "CREDIT_CARD",
    "DATE_TIME": "DATE_OF_BIRTH", "PHONE_NUMBER": "PHONE", "AGE": "AGE", "NRP": "NRP",
    "EMAIL_ADDRESS": "EMAIL", "DOMAIN_NAME": "URL", "IBAN_CODE": "IBAN", "US_SSN": "US_SSN",
    "IP_ADDRESS": "IP_ADDRESS", "US_DRIVER_LICENSE": "ID_NUMBER",
}  # fmt: skip
CHECKSUM_TYPES = ("CREDIT_CARD", "IBAN_CODE", "US_SSN", "EMAIL_ADDRESS", "IP_ADDRESS")
# Same-type recall accepts an address for a place inside it.
COMPATIBLE = {"LOCATION": {"LOCATION", "ADDRESS"}}
# Published and measured figures from /work/shared/data/pii/README.md (F2, ms per prompt, MB).
BASELINES = {
    "presidio_spacy_lg": {"precision": 0.685, "recall": 0.603, "f2": 0.618},
    "presidio_transformer_hub": {"precision": 0.870, "recall": 0.839, "f2": 0.845},
    "presidio_spacy_md": {"precision": 0.638, "recall": 0.608, "f2": 0.614, "ms": 27, "mb": 416},
    "rampart_onnx": {"precision": 0.738, "recall": 0.590, "f2": 0.614, "ms": 16, "mb": 113},
    "presidio_md_plus_rampart": {"precision": 0.756, "recall": 0.779, "f2": 0.774, "ms": 44, "mb": 476},
}


def is_dev(template_id: object) -> bool:
    return hashlib.sha256(str(template_id).encode()).digest()[0] % 2 == 0


def found(t: tuple[int, int], preds: list[Any]) -> Any:
    """The first prediction covering at least MATCH of true span t, or None."""
    a, b = t
    return next((p for p in preds if min(b, p.end) - max(a, p.start) >= MATCH * (b - a)), None)


def score(samples: list[dict[str, Any]], preds: list[list[Any]]) -> dict[str, Any]:
    n_true = n_found = n_pred = n_ok = 0
    by_type: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # found, same type, total
    for sample, ps in zip(samples, preds, strict=True):
        trues = [(s["start_position"], s["end_position"], s["entity_type"]) for s in sample["spans"]]
        for a, b, label in trues:
            hit = found((a, b), ps)
            n_true += 1
            n_found += hit is not None
            stats = by_type[label]
            stats[0] += hit is not None
            mapped = LABELS.get(label, label)
            stats[1] += hit is not None and hit.entity in COMPATIBLE.get(mapped, {mapped})
            stats[2] += 1
        for p in ps:
            n_pred += 1
            n_ok += any(min(b, p.end) - max(a, p.start) >= MATCH * (b - a) for a, b, _ in trues)
    precision = n_ok / n_pred if n_pred else 0.0
    recall = n_found / n_true if n_true else 0.0
    f2 = 5 * precision * recall / (4 * precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4), "recall": round(recall, 4), "f2": round(f2, 4),
        "samples": len(samples), "true_spans": n_true, "predicted_spans": n_pred,
        "per_type": {
            label: {
                "as": LABELS.get(label), "n": n,
                "recall": round(f / n, 4), "recall_same_type": round(s / n, 4),
            }
            for label, (f, s, n) in sorted(by_type.items())
        },
    }  # fmt: skip


def docstrings() -> list[str]:
    """Docstrings of the standard library's top-level modules, in a fixed order."""
    out: list[str] = []
    for path in sorted(glob.glob(os.path.join(sys.base_prefix, "lib", "python3.*", "*.py"))):
        try:
            tree = ast.parse(Path(path).read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                doc = ast.get_docstring(node)
                if doc:
                    out.append(doc)
    return out


def false_positives(detector: Any, texts: list[str]) -> dict[str, Any]:
    chars = sum(map(len, texts))
    by_entity: dict[str, int] = defaultdict(int)
    for text in texts:
        for span in detector.detect(text):
            by_entity[span.entity] += 1
    flagged = sum(by_entity.values())
    return {
        "chars": chars, "docstrings": len(texts), "flagged": flagged,
        "per_1k_chars": round(flagged / chars * 1000, 3), "by_entity": dict(sorted(by_entity.items())),
    }  # fmt: skip


def prompts(samples: list[dict[str, Any]], n: int) -> list[str]:
    """n distinct prompts of exactly PROMPT_CHARS characters, from consecutive samples."""
    out: list[str] = []
    buf = ""
    for sample in samples:
        buf += sample["full_text"] + "\n"
        if len(buf) >= PROMPT_CHARS:
            out.append(buf[:PROMPT_CHARS])
            buf = ""
            if len(out) == n:
                break
    return out


def latency(detector: Any, texts: list[str], rounds: int) -> dict[str, float]:
    times: list[float] = []
    for _ in range(rounds):
        for text in texts:
            t0 = time.perf_counter()
            detector.detect(text)
            times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {
        "prompt_chars": PROMPT_CHARS, "calls": len(times), "median_ms": round(statistics.median(times), 2),
        "p95_ms": round(times[int(0.95 * (len(times) - 1))], 2), "max_ms": round(times[-1], 2),
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    ap.add_argument("--quick", action="store_true", help="held-out docstrings only, fewer latency rounds")
    ap.add_argument("--no-model", action="store_true", help="rules only")
    args = ap.parse_args()

    t0 = time.perf_counter()
    from corral.privacy.detect import PIIDetector

    detector = PIIDetector(use_model=not args.no_model)
    detector.warmup()
    load = {
        "seconds": round(time.perf_counter() - t0, 3),
        "rss_delta_mb": round((_PROC.memory_info().rss - _RSS0) / 1e6, 1),
    }

    data = json.loads(args.dataset.read_text(encoding="utf-8"))
    dev = [s for s in data if is_dev(s["template_id"])]
    held = [s for s in data if not is_dev(s["template_id"])]
    preds = {id(s): detector.detect(s["full_text"]) for s in data}
    parts = {
        name: score(part, [preds[id(s)] for s in part])
        for name, part in (("held_out", held), ("dev", dev), ("all", data))
    }
    checksum: dict[str, Any] = {}
    for label in CHECKSUM_TYPES:
        stats = parts["all"]["per_type"].get(label)
        checksum[label] = stats["recall"] if stats else None

    docs = docstrings()
    fp = {"held_out": false_positives(detector, docs[1::2])}
    if not args.quick:
        fp["dev"] = false_positives(detector, docs[0::2])
    lat = latency(detector, prompts(held, 40), 2 if args.quick else 5)

    f2 = parts["held_out"]["f2"]
    ratios = {
        name: {
            "f2": round(f2 / b["f2"], 3),
            **({"latency": round(lat["median_ms"] / b["ms"], 3)} if "ms" in b else {}),
            **({"memory": round(load["rss_delta_mb"] / b["mb"], 3)} if "mb" in b else {}),
        }
        for name, b in BASELINES.items()
    }
    report = {
        "detector": {
            "use_model": detector.use_model,
            "entities": sorted(detector.entities),
            "thresholds": detector.thresholds,
        },
        "match": f"|pred ∩ true| / |true| >= {MATCH}",
        "split": "dev: sha256(str(template_id))[0] even; held_out: odd",
        "accuracy": parts,
        "checksum_type_recall_all": checksum,
        "false_positives_stdlib_docstrings": fp,
        "latency": lat,
        "load": load,
        "cpu_count": os.cpu_count(),
        "baselines": BASELINES,
        "ratio_to_baselines": ratios,
        "targets": {
            "f2_held_out>=0.80": f2 >= 0.80,
            "checksum_recall==1": all(v == 1.0 for v in checksum.values() if v is not None),
            "fp_per_1k<=1": fp["held_out"]["per_1k_chars"] <= 1.0,
            "median_ms<=30": lat["median_ms"] <= 30,
            "load_s<=3": load["seconds"] <= 3,
            "rss_mb<=300": load["rss_delta_mb"] <= 300,
        },
    }
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
