"""Secrets: Corral's credential table against detect-secrets (Yelp, Apache-2.0): recall, false
positives on text without credentials, and speed per prompt.

    .venv/bin/python bench/secrets_compare.py [--dataset PATH] [--rounds 5]
    PYTHONPATH=<dir with detect_secrets> .venv/bin/python bench/secrets_compare.py   # with the library

Run it from any directory; `PYTHONPATH=<old tree>` measures another version of `corral`. Prints
one JSON object:
- recall: the generated credential examples of tests/privacy/test_secrets.py (one per format of
  the table, fake values with valid structure) whose value a detector covers. Ours: a SECRET or
  URL_CREDENTIALS span of `PIIDetector(use_model=False)`. detect-secrets: a reported secret value
  that overlaps the example's value, on any line of the example.
- false positives: what each reports on the held-out half of the stdlib docstrings (the
  false-positive text of bench/pii_accuracy.py), per 1,000 characters.
- latency: the 40 held-out 317-character prompts of bench/pii_accuracy.py, after a warm-up:
  `rules.find_secrets` alone, the whole rules-only detector, detect-secrets' ad-hoc `scan_line` on
  each line (all plugins and default filters, as the library offers it), and its plugins alone
  (`analyze_line`, no filters).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from pii_accuracy import DEFAULT_DATASET, docstrings, is_dev, prompts

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT))  # for the examples of tests/privacy/test_secrets.py

from corral.privacy.detect import PIIDetector  # noqa: E402
from corral.privacy.detect import entities as E  # noqa: E402
from corral.privacy.detect.rules import find_secrets  # noqa: E402
from tests.privacy.test_secrets import CASES  # noqa: E402

Scanner = Callable[[str], Iterable[str]]  # text -> reported secret values (detect-secrets) or spans


def timed(work: Callable[[str], Any], texts: list[str], rounds: int) -> dict[str, float]:
    for text in texts:
        work(text)  # warm-up: compiled patterns, caches
    times: list[float] = []
    for _ in range(rounds):
        for text in texts:
            t0 = time.perf_counter()
            work(text)
            times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {
        "median_ms": round(statistics.median(times), 4),
        "p95_ms": round(times[int(0.95 * (len(times) - 1))], 4),
    }


def ours(detector: PIIDetector) -> dict[str, Any]:
    missed = []
    for name, text, value in CASES:
        a = text.index(value)
        spans = [s for s in detector.detect(text) if s.entity in (E.SECRET, E.URL_CREDENTIALS)]
        if not any(s.start <= a and a + len(value) <= s.end for s in spans):
            missed.append(name)
    return {"found": len(CASES) - len(missed), "of": len(CASES), "missed": missed}


def detect_secrets_scanners(stack: ExitStack) -> dict[str, Scanner] | None:
    try:
        from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
        from detect_secrets.core.scan import scan_line
        from detect_secrets.settings import default_settings
    except ImportError:
        return None
    stack.enter_context(default_settings())  # all plugins, default filters
    plugins = [cls() for cls in get_mapping_from_secret_type_to_class().values()]

    def scan(text: str) -> list[str]:
        return [s.secret_value or "" for line in text.splitlines() for s in scan_line(line)]

    def plugins_only(text: str) -> list[str]:
        return [
            s.secret_value or ""
            for i, line in enumerate(text.splitlines())
            for p in plugins
            for s in p.analyze_line(filename="prompt", line=line, line_number=i)
        ]

    return {"detect_secrets.scan_line": scan, "detect_secrets plugins only": plugins_only}


def library_recall(scan: Scanner) -> dict[str, Any]:
    missed = []
    for name, text, value in CASES:
        if not any(v and (v in value or value in v) for v in scan(text)):
            missed.append(name)
    return {"found": len(CASES) - len(missed), "of": len(CASES), "missed": missed}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    data = json.loads(args.dataset.read_text(encoding="utf-8"))
    texts = prompts([s for s in data if not is_dev(s["template_id"])], 40)
    docs = docstrings()[1::2]
    chars = sum(map(len, docs))
    detector = PIIDetector(use_model=False)

    secret_spans = sum(1 for d in docs for s in detector.detect(d) if s.entity == E.SECRET)
    report: dict[str, Any] = {
        "corral": {
            "recall": ours(detector),
            "false_positives": {
                "SECRET": secret_spans,
                "per_1k_chars": round(secret_spans / chars * 1000, 4),
            },
            "latency_find_secrets": timed(lambda t: list(find_secrets(t)), texts, args.rounds),
            "latency_rules_only_detector": timed(detector.detect, texts, args.rounds),
        },
        "docstring_chars": chars,
        "prompts": len(texts),
    }
    stack = ExitStack()
    scanners = detect_secrets_scanners(stack)
    if scanners is None:
        report["detect_secrets"] = "not importable: set PYTHONPATH to a directory holding detect_secrets"
    for name, scan in (scanners or {}).items():
        flagged = sum(len(list(scan(d))) for d in docs)
        report[name] = {
            "recall": library_recall(scan),
            "false_positives": {"reported": flagged, "per_1k_chars": round(flagged / chars * 1000, 4)},
            "latency": timed(scan, texts, args.rounds),
        }
    stack.close()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
