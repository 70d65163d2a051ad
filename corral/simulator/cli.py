"""``corral simulate``: run the fake LLM upstream (a test/benchmark tool).

Attach to the main CLI with ``from corral.simulator.cli import simulate``;
``python -m corral.simulator`` runs the same command standalone.
"""

from __future__ import annotations

import click

from .faults import FAULT_KINDS, FaultSchedule
from .server import run
from .settings import SimSettings

HELP = f"""Run the Corral LLM upstream SIMULATOR: a test and benchmark tool, never a model.

It serves fake but wire-accurate OpenAI (/v1/chat/completions, /v1/embeddings,
/v1/models), Anthropic (/v1/messages) and Gemini (/v1beta/models/M:generateContent,
:streamGenerateContent?alt=sse, :embedContent, :batchEmbedContents) endpoints
with deterministic word-like output, controllable timing and injectable faults.

\b
Per-request headers override the run settings:
  x-sim-latency-ms, x-sim-ttft-ms, x-sim-tps, x-sim-output-tokens,
  x-sim-fault (one of: {", ".join(sorted(FAULT_KINDS))}, or none),
  x-sim-tool-call (1 or a tool name), x-sim-hang-s,
  x-sim-cached-tokens, x-sim-reasoning-tokens.

\b
Admin: GET /sim/stats, POST /sim/reset, GET|PUT /sim/faults,
GET|PATCH /sim/settings, GET /sim/health.
"""


@click.command("simulate", help=HELP)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=9100, show_default=True, type=int, help="TCP port (0 = any free port).")
@click.option(
    "--latency-ms", default=0.0, show_default=True, type=float, help="Delay before response headers."
)
@click.option(
    "--ttft-ms",
    default=0.0,
    show_default=True,
    type=float,
    help="Time to first token of a stream (added to latency when not streaming).",
)
@click.option(
    "--tps",
    default=0.0,
    show_default=True,
    type=float,
    help="Tokens per second after the first (0 = unlimited).",
)
@click.option(
    "--output-tokens",
    default=16,
    show_default=True,
    type=int,
    help="Tokens per answer (capped by max_tokens).",
)
@click.option(
    "--context-window",
    default=8192,
    show_default=True,
    type=int,
    help="Prompts estimated above this many tokens (chars/4) get the dialect's context-length error.",
)
@click.option(
    "--retry-after-s", default=1.0, show_default=True, type=float, help="Retry-After of rate_limit faults."
)
@click.option(
    "--hang-s", default=300.0, show_default=True, type=float, help="How long the hang fault stalls."
)
@click.option(
    "--faults",
    "faults_file",
    type=click.Path(exists=True, dir_okay=False),
    help="YAML/JSON fault schedule: a list of rules "
    "{fault, model, dialect, endpoint, probability, every, first, after}.",
)
@click.option(
    "--require-key", default=None, help="Require this API key (Bearer / x-api-key / x-goog-api-key or ?key=)."
)
@click.option(
    "--seed", default=0, show_default=True, type=int, help="Seed for fault probabilities and filler words."
)
def simulate(
    host: str,
    port: int,
    latency_ms: float,
    ttft_ms: float,
    tps: float,
    output_tokens: int,
    context_window: int,
    retry_after_s: float,
    hang_s: float,
    faults_file: str | None,
    require_key: str | None,
    seed: int,
) -> None:
    settings = SimSettings(
        latency_ms=latency_ms,
        ttft_ms=ttft_ms,
        tokens_per_second=tps,
        output_tokens=output_tokens,
        context_window=context_window,
        retry_after_s=retry_after_s,
        hang_s=hang_s,
        seed=seed,
        require_key=require_key or None,
    )
    try:
        schedule = (
            FaultSchedule.from_file(faults_file, seed=seed) if faults_file else FaultSchedule(seed=seed)
        )
    except (OSError, ValueError) as exc:
        raise click.BadParameter(str(exc), param_hint="--faults") from exc
    run(host, port, settings, schedule)
