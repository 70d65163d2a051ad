"""A provider simulator with fault injection, for tests, demos and benchmarks only.

It is never a model and is never used in place of one.

A real HTTP server speaking the OpenAI, Anthropic and Gemini wire formats with
deterministic output, controllable latency/TTFT/tokens-per-second, and
injectable faults (rate limits, 5xx, hangs, connection resets, malformed SSE,
content-policy and context-length errors). See ``server.build_app``,
``testing.running_simulator`` and ``cli.simulate``.
"""

from .faults import FAULT_KINDS, FaultRule, FaultSchedule
from .generate import embedding_vector, estimate_tokens, sim_text, sim_words
from .server import build_app, run, serve
from .settings import SimSettings
from .testing import SimulatorThread, running_simulator

__all__ = [
    "FAULT_KINDS",
    "FaultRule",
    "FaultSchedule",
    "SimSettings",
    "SimulatorThread",
    "build_app",
    "embedding_vector",
    "estimate_tokens",
    "run",
    "running_simulator",
    "serve",
    "sim_text",
    "sim_words",
]
