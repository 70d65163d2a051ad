"""The naive pattern the company started with, kept for comparison with service.py.

One synchronous chat completion per report, made while the caller waits: no queue, no
background mode, no retrieval (every template and every style guide pasted into the system
prompt, whatever the report type), the customer's raw data in the user message, nothing
redacted. Point it at a provider directly (the benchmark points it at Corral's simulator):

    python examples/report-service/prototype.py --base-url http://127.0.0.1:9100/v1 \
        --api-key sk-test --model gpt-4o-mini --seed 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from openai import AsyncOpenAI

HERE = Path(__file__).resolve().parent
KNOWLEDGE_DIR = HERE / "knowledge"


def system_prompt(knowledge_dir: Path) -> str:
    """Every template and style guide, whole, one after the other."""
    parts = ["You write reports about customers for a regulated analytics company. "
             "Pick the template of the requested report type below and follow it and the style guides."]
    for path in sorted(knowledge_dir.rglob("*.md")):
        parts.append(f"\n\n----- {path.relative_to(knowledge_dir).as_posix()} -----\n{path.read_text()}")
    return "".join(parts)


async def naive_report(client: AsyncOpenAI, model: str, report_type: str, customer: dict[str, Any],
                       knowledge_dir: Path = KNOWLEDGE_DIR, max_tokens: int = 400) -> dict[str, Any]:
    """One report the naive way; returns ``{"report", "usage", "latency_s"}``."""
    started = time.perf_counter()
    completion = await client.chat.completions.create(
        model=model,
        max_tokens=max_tokens,
        messages=[
            {"role": "system", "content": system_prompt(knowledge_dir)},
            {"role": "user", "content": f"Report type: {report_type}\n\nCustomer data:\n"
                                        f"{json.dumps(customer, indent=2)}"},
        ],
    )
    return {
        "report": completion.choices[0].message.content or "",
        "usage": completion.usage.model_dump(exclude_none=True) if completion.usage else {},
        "latency_s": round(time.perf_counter() - started, 3),
    }


async def _main(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(HERE))
    import customers  # the example's synthetic data, next to this file

    request = customers.request(args.seed)
    async with AsyncOpenAI(base_url=args.base_url, api_key=args.api_key) as client:
        result = await naive_report(client, args.model, request["report_type"], request["customer"],
                                    args.knowledge_dir, args.max_tokens)
    print(f"# {request['report_type']} for {request['customer']['full_name']}\n")
    print(result["report"])
    print(f"\nusage: {json.dumps(result['usage'])}  latency: {result['latency_s']} s", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(
        description="The naive prototype: one synchronous chat completion with every template in the "
                    "system prompt and the raw customer data, printed for one synthetic customer.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--base-url", default=os.environ.get("OPENAI_BASE_URL", "http://127.0.0.1:9100/v1"),
                        help="an OpenAI-compatible base URL, with /v1 (env OPENAI_BASE_URL)")
    parser.add_argument("--api-key", default=os.environ.get("OPENAI_API_KEY", "sk-none"),
                        help="its key (env OPENAI_API_KEY)")
    parser.add_argument("--model", default="gpt-4o-mini", help="the model to ask")
    parser.add_argument("--seed", type=int, default=1, help="which synthetic customer (customers.request)")
    parser.add_argument("--knowledge-dir", type=Path, default=KNOWLEDGE_DIR,
                        help="templates and style guides")
    parser.add_argument("--max-tokens", type=int, default=400, help="longest report, in tokens")
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
