"""What a privacy route's detection costs per request size, to choose `privacy.max_detect_chars`.

    .venv/bin/python bench/pii_budget.py [--sizes 2048,4096,8192,16384,32768] [--no-model]

For each size, text cut from the PII development set (`data/pii/`) is detected on a worker
thread, as the privacy stage does, while an asyncio ticker on the main thread measures how long
the event loop waits (the GIL it shares with the detection). Prints one JSON object: per size
the wall and CPU seconds of detection and the loop's worst and 99th-percentile stall, and
`suggested_max_detect_chars`, the largest size detected within `--target-s` (default 1 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

from corral.privacy.detect import PIIDetector

DATASET = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "pii" / "synth_dataset_v2.json"


async def _measure(detector: PIIDetector, text: str) -> dict[str, float]:
    stalls: list[float] = []
    cpu: list[float] = []

    def work() -> None:
        start = time.thread_time()
        detector.detect(text)
        cpu.append(time.thread_time() - start)

    start = time.perf_counter()
    job = asyncio.ensure_future(asyncio.to_thread(work))
    while not job.done():
        tick = time.perf_counter()
        await asyncio.sleep(0.001)
        stalls.append(time.perf_counter() - tick - 0.001)
    await job
    wall = time.perf_counter() - start
    stalls.sort()
    return {
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu[0], 3),
        "loop_stall_max_ms": round(stalls[-1] * 1000, 1),
        "loop_stall_p99_ms": round(stalls[int(len(stalls) * 0.99)] * 1000, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", type=Path, default=DATASET)
    ap.add_argument("--sizes", default="2048,4096,8192,16384,32768")
    ap.add_argument("--target-s", type=float, default=1.0)
    ap.add_argument("--no-model", action="store_true", help="rules only")
    args = ap.parse_args()
    samples = json.loads(args.dataset.read_text(encoding="utf-8"))
    corpus = "\n\n".join(s["full_text"] for s in samples)
    detector = PIIDetector(use_model=not args.no_model)
    detector.warmup()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = {}
    for size in sizes:
        text = (corpus * (size // len(corpus) + 1))[:size]
        results[size] = asyncio.run(_measure(detector, text))
    fitting = [size for size in sizes if results[size]["wall_s"] <= args.target_s]
    print(json.dumps({
        "use_model": not args.no_model,
        "by_size": results,
        "suggested_max_detect_chars": max(fitting, default=None),
    }, indent=2))


if __name__ == "__main__":
    main()
