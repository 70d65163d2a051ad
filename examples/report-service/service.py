"""The report-generation service of the case study, as its own process.

    python examples/report-service/service.py --corral-url http://127.0.0.1:8080 \
        --api-key sk-corral-... --port 8090 --model reports --db reports.db

It talks to Corral only through Corral's public, OpenAI-compatible API with the official
``openai`` SDK. With ``REPORTS_WEBHOOK_SECRET`` set, Corral's webhooks (POST /corral/events) tell
it when a report's response finished; polling remains the fallback.
See README.md next to this file for the HTTP API and the architecture.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import logging
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the report_service package next to this file

import uvicorn
from report_service.app import KNOWLEDGE_DIR, ServiceSettings, create_app
from report_service.knowledge import STORE_NAME
from report_service.runner import RunnerSettings

SECRET_ENV = "REPORTS_WEBHOOK_SECRET"  # the whsec_ secret shared with Corral's `webhooks:` endpoint


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="service.py",
        description="Report-generation service: accepts report requests over HTTP, queues them in "
                    "SQLite, and has Corral write each one as a background response grounded in the "
                    "report templates and style guides (file_search over a vector store).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    corral = parser.add_argument_group("Corral")
    corral.add_argument("--corral-url", default=os.environ.get("CORRAL_URL", "http://127.0.0.1:8080"),
                        help="Corral's base URL, without /v1 (env CORRAL_URL)")
    corral.add_argument("--api-key", default=os.environ.get("CORRAL_API_KEY"),
                        help="a Corral application (inference) key (env CORRAL_API_KEY; required)")
    corral.add_argument("--model", default="reports", help="the Corral route that writes the reports")
    corral.add_argument("--max-output-tokens", type=int, default=400, help="longest report, in tokens")
    corral.add_argument("--max-num-results", type=int, default=4,
                        help="knowledge chunks file_search puts in each prompt")
    knowledge = parser.add_argument_group("knowledge")
    knowledge.add_argument("--knowledge-dir", type=Path, default=KNOWLEDGE_DIR,
                           help="templates/*.md (one per report type) and style guides to upload")
    knowledge.add_argument("--store-name", default=STORE_NAME,
                           help="the vector store to create, or reuse by name on restart")
    service = parser.add_argument_group("service")
    service.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    service.add_argument("--port", type=int, default=8090, help="port to listen on")
    service.add_argument("--db", default="reports.db", help="SQLite file holding the jobs")
    service.add_argument("--concurrency", type=int, default=32,
                         help="reports in flight at once; further jobs wait in the queue")
    service.add_argument("--poll-interval", type=float, default=0.5,
                         help="seconds before the first poll of a background response (then x1.25)")
    service.add_argument("--poll-max", type=float, default=1.0,
                         help="the longest wait between two polls: how late a finished report may be seen")
    service.add_argument("--fallback-poll", type=float, default=5.0,
                         help="with Corral's webhooks (env REPORTS_WEBHOOK_SECRET): seconds between the "
                              "polls that still finish a report whose event was lost or late")
    service.add_argument("--webhook-retries", type=int, default=3, help="retries of a failed webhook POST")
    service.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    args = parser.parse_args(argv)
    if not args.api_key:
        parser.error("a Corral key is required: --api-key or CORRAL_API_KEY")
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    args.webhook_secret = os.environ.get(SECRET_ENV) or None
    if args.webhook_secret is not None and not valid_secret(args.webhook_secret):
        parser.error(f"{SECRET_ENV} must hold whsec_<base64 of at least 24 bytes>, the secret of Corral's "
                     "webhook endpoint for this service")
    return args


def valid_secret(value: str) -> bool:
    """The form Corral accepts too (docs/webhooks.md): a typo fails here, not as refused events."""
    try:
        key = base64.b64decode(value.strip().removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        return False
    return value.startswith("whsec_") and len(key) >= 24


def settings_from(args: argparse.Namespace) -> ServiceSettings:
    return ServiceSettings(
        corral_url=args.corral_url, api_key=args.api_key, db=args.db, knowledge_dir=args.knowledge_dir,
        store_name=args.store_name, webhook_secret=args.webhook_secret,
        runner=RunnerSettings(model=args.model, concurrency=args.concurrency,
                              max_output_tokens=args.max_output_tokens, max_num_results=args.max_num_results,
                              poll_interval_s=args.poll_interval, poll_max_s=args.poll_max,
                              fallback_poll_s=args.fallback_poll, webhook_retries=args.webhook_retries),
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    uvicorn.run(create_app(settings_from(args)), host=args.host, port=args.port, log_level=args.log_level,
                lifespan="on")


if __name__ == "__main__":
    main()
