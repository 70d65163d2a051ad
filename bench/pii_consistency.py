"""Request-wide consistency: recall per occurrence and placeholder consistency, before and after
propagating detected values across a request's texts (`corral.privacy.consistency`).

    .venv/bin/python bench/pii_consistency.py [--no-model]

Prints one JSON object. Definitions (also in docs/privacy-detection.md):
- Data: bench/data/pii_consistency/conversations.jsonl, 30 hand-written multi-turn conversations
  (system prompt, user and assistant turns, tool-call arguments, tool results, a message name)
  where each gold value appears 2-6 times in different messages and forms (upper/lower case,
  doubled spaces, line breaks); `values` lists each value's forms. control.jsonl: 10
  conversations without personal data (common words such as "may"/"will", place names).
- Texts are `request_texts` of the request the conversation makes; spans come from
  `PIIDetector` run as the privacy stage runs it (`stage_detect`: long texts alone through
  the detection memo, short ones joined; every span kept).
- An occurrence (a form found in a text on word boundaries) is redacted when every letter and
  digit of it lies inside a span redaction applies. Its placeholders are those of the spans
  over it. A value is consistent when all its occurrences are redacted with the same placeholders.
- "before": detection alone, one placeholder per distinct string (the old behaviour);
  "after": with `propagate` and the vault's aliases.
- False replacements: spans propagation added that cover no gold occurrence (conversations), and
  every span added on the control set (per 1,000 characters).
- Latency: `propagate` alone, per conversation, and on a 10-message ~4,000-character one.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from pathlib import Path
from typing import Any

from corral.core.types import ChatRequest, Message, ToolCall
from corral.privacy.consistency import propagate
from corral.privacy.memo import DetectionMemo, detect_texts
from corral.privacy.redact import Vault, request_texts, select_spans
from corral.privacy.stage import detect_joined
from corral.privacy.types import Detector, Span

DATA = Path(__file__).resolve().parent / "data" / "pii_consistency"


def load(name: str) -> list[dict[str, Any]]:
    with open(DATA / name, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def request_of(row: dict[str, Any]) -> ChatRequest:
    messages = [
        Message(m["role"], m.get("content"), name=m.get("name"),
                tool_calls=[ToolCall(c["id"], c["name"], c["arguments"]) for c in m["tool_calls"]]
                if m.get("tool_calls") else None, tool_call_id=m.get("tool_call_id"))
        for m in row["messages"]
    ]
    return ChatRequest("bench", messages)


def occurrences(texts: list[str], forms: list[str]) -> list[tuple[int, int, int]]:
    found = set()
    for i, text in enumerate(texts):
        for form in forms:
            for m in re.finditer(rf"(?<!\w){re.escape(form)}(?!\w)", text):
                found.add((i, m.start(), m.end()))
    return sorted(found)


def placeholders_over(text: str, chosen: list[Span], start: int, end: int, vault: Vault
                      ) -> tuple[str, ...] | None:
    """The placeholders redaction puts over text[start:end], or None if any letter/digit stays."""
    over = [s for s in chosen if s.start < end and start < s.end]
    for k in range(start, end):
        if text[k].isalnum() and not any(s.start <= k < s.end for s in over):
            return None
    return tuple(vault.placeholder(s.entity, s.text(text)) for s in over)


def score(texts: list[str], spans: list[list[Span]], gold: list[dict[str, Any]], aliases: dict[str, str]
          ) -> dict[str, int]:
    vault = Vault()
    vault.alias(aliases)
    chosen = [select_spans(s, len(t)) for t, s in zip(texts, spans, strict=True)]
    for t, c in zip(texts, chosen, strict=True):  # number placeholders in request order, as redaction does
        for s in c:
            vault.placeholder(s.entity, s.text(t))
    out = {"occurrences": 0, "redacted": 0, "values": 0, "consistent": 0}
    for value in gold:
        marks = [placeholders_over(texts[i], chosen[i], a, b, vault)
                 for i, a, b in occurrences(texts, value["forms"])]
        out["occurrences"] += len(marks)
        out["redacted"] += sum(m is not None for m in marks)
        out["values"] += 1
        out["consistent"] += bool(marks) and None not in marks and len(set(marks)) == 1
    return out


def added_spans(before: list[list[Span]], after: list[list[Span]]) -> list[tuple[int, Span]]:
    return [(i, s) for i, (b, a) in enumerate(zip(before, after, strict=True)) for s in a[len(b):]]


def covers_gold(texts: list[str], gold: list[dict[str, Any]], i: int, span: Span) -> bool:
    occ = occurrences(texts, [f for v in gold for f in v["forms"]])
    return any(j == i and a < span.end and span.start < b for j, a, b in occ)


def timed(fn: Any, *args: Any, repeat: int = 200) -> float:
    best = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(*args)
        best.append(time.perf_counter() - t0)
    return statistics.median(best) * 1e6


def stage_detect(detector: Detector, texts: list[str]) -> list[list[Span]]:
    """Spans as the privacy stage finds them (corral.privacy.memo), with a fresh memo."""
    return detect_texts(texts, DetectionMemo(), detector.detect, lambda short: detect_joined(detector, short))


def long_conversations(detector: Detector) -> dict[str, tuple[list[str], list[list[Span]]]]:
    """Two 10-message, ~4,000-character requests: "typical" (one conversation's texts, the rest
    personal-data-free turns) and "dense" (ten texts that all carry values, ~90 occurrences)."""
    rows = load("conversations.jsonl")
    control = [t for row in load("control.jsonl") for t in request_texts(request_of(row))]
    typical = request_texts(request_of(rows[0]))
    while len(typical) < 10:
        typical.append(control[len(typical)])
    dense = sorted((t for row in rows for t in request_texts(request_of(row))), key=len, reverse=True)[:10]
    out = {}
    for name, texts in (("typical", typical), ("dense", dense)):
        while sum(map(len, texts)) < 4000:
            texts = [t + " " + c for t, c in zip(texts, control, strict=False)]
        out[name] = (texts, stage_detect(detector, texts))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-model", action="store_true", help="rules only (faster, lower recall)")
    args = parser.parse_args()
    from corral.privacy.detect import PIIDetector

    detector: Detector = PIIDetector(use_model=not args.no_model)
    totals = {k: {"occurrences": 0, "redacted": 0, "values": 0, "consistent": 0} for k in ("before", "after")}
    wrong_added, latencies = 0, []
    for row in load("conversations.jsonl"):
        texts = request_texts(request_of(row))
        spans = stage_detect(detector, texts)
        after, aliases = propagate(texts, spans)
        for key, result in (("before", score(texts, spans, row["values"], {})),
                            ("after", score(texts, after, row["values"], aliases))):
            for k, v in result.items():
                totals[key][k] += v
        wrong_added += sum(not covers_gold(texts, row["values"], i, s) for i, s in added_spans(spans, after))
        latencies.append(timed(propagate, texts, spans))
    control_chars = control_before = control_added = 0
    for row in load("control.jsonl"):
        texts = request_texts(request_of(row))
        spans = stage_detect(detector, texts)
        after, _ = propagate(texts, spans)
        control_chars += sum(map(len, texts))
        control_before += sum(len(select_spans(s, len(t))) for t, s in zip(texts, spans, strict=True))
        control_added += len(added_spans(spans, after))
    ten = {name: (texts, spans, timed(propagate, texts, spans))
           for name, (texts, spans) in long_conversations(detector).items()}
    report = {
        "conversations": len(latencies),
        **{f"recall_{k}": round(v["redacted"] / v["occurrences"], 4) for k, v in totals.items()},
        **{f"consistency_{k}": round(v["consistent"] / v["values"], 4) for k, v in totals.items()},
        "occurrences": totals["after"]["occurrences"], "values": totals["after"]["values"],
        "missed_before": totals["before"]["occurrences"] - totals["before"]["redacted"],
        "missed_after": totals["after"]["occurrences"] - totals["after"]["redacted"],
        "propagated_spans_outside_gold": wrong_added,
        "control_chars": control_chars, "control_spans_detected": control_before,
        "control_spans_added": control_added,
        "latency_us_median_per_conversation": round(statistics.median(latencies), 1),
        "latency_us_max_per_conversation": round(max(latencies), 1),
        **{f"latency_us_10_messages_{name}": round(us, 1) for name, (_, _, us) in ten.items()},
        **{f"chars_10_messages_{name}": sum(map(len, texts)) for name, (texts, _, _) in ten.items()},
        **{f"spans_after_10_messages_{name}": sum(len(s) for s in propagate(texts, spans)[0])
           for name, (texts, spans, _) in ten.items()},
        "detector": "rules" if args.no_model else "rules+model",
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
