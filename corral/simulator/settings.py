"""Run-wide settings and per-request overrides for the LLM upstream simulator.

The simulator is a test and benchmark tool, never a model. ``SimSettings``
holds the defaults for a run; ``RequestPlan`` is what one request actually
gets after its ``x-sim-*`` headers have been applied, so every code path reads
timing and size from a single resolved object.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Header names understood on every simulated endpoint.
H_LATENCY = "x-sim-latency-ms"
H_TTFT = "x-sim-ttft-ms"
H_TPS = "x-sim-tps"
H_OUTPUT = "x-sim-output-tokens"
H_FAULT = "x-sim-fault"
H_TOOL_CALL = "x-sim-tool-call"
H_HANG = "x-sim-hang-s"
H_CACHED = "x-sim-cached-tokens"
H_REASONING = "x-sim-reasoning-tokens"


@dataclass
class SimSettings:
    """Defaults for one simulator run; every field may be changed at run time.

    latency_ms: delay before the response headers are sent (all endpoints).
    ttft_ms: delay before the first content chunk of a stream; for
        non-streaming answers it is added to the latency.
    tokens_per_second: pace of stream chunks after the first (0 = unlimited);
        non-streaming answers wait as long as the stream would have taken.
    output_tokens: generated tokens per answer, capped by the request's own
        max_tokens.
    context_window: prompts estimated above this many tokens (chars/4) get
        the dialect's context-length error.
    retry_after_s: value of Retry-After on rate_limit faults.
    hang_s: how long the ``hang`` fault stalls.
    seed: seeds the fault RNG and the generated filler words.
    embedding_dim: default embedding dimension.
    require_key: if set, every model endpoint checks the dialect's API key.
    cached_tokens / reasoning_tokens: reported in usage (cache reads and
        reasoning/thinking tokens) so cost accounting can be exercised.
    fault_after_chunks: stream faults (reset, malformed_sse, stream_error)
        fire after this many content chunks.
    batch_delay_ms: how long a simulated /v1/batches batch waits before it
        runs its lines (openai_batches.py).
    """

    latency_ms: float = 0.0
    ttft_ms: float = 0.0
    tokens_per_second: float = 0.0
    output_tokens: int = 16
    context_window: int = 8192
    retry_after_s: float = 1.0
    hang_s: float = 300.0
    seed: int = 0
    embedding_dim: int = 8
    require_key: str | None = None
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    fault_after_chunks: int = 2
    batch_delay_ms: float = 0.0

    def update(self, values: Mapping[str, Any]) -> None:
        """Apply a JSON-ish mapping of field values (admin endpoint, CLI)."""
        fields = {f.name: f for f in dataclasses.fields(self)}
        for key, value in values.items():
            if key not in fields:
                raise ValueError(f"unknown setting {key!r}")
            current = getattr(self, key)
            if key == "require_key":
                setattr(self, key, None if value in (None, "") else str(value))
            elif isinstance(current, bool) or value is None:
                raise ValueError(f"bad value for {key!r}: {value!r}")
            elif isinstance(current, int) and not isinstance(current, bool):
                setattr(self, key, _non_negative(key, int(value)))
            else:
                setattr(self, key, _non_negative(key, float(value)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view (the key itself is masked)."""
        out = dataclasses.asdict(self)
        out["require_key"] = "***" if self.require_key else None
        return out


@dataclass(slots=True)
class RequestPlan:
    """Settings resolved for one request (headers applied, units converted)."""

    latency_s: float
    ttft_s: float
    tps: float
    output_tokens: int
    hang_s: float
    fault: str | None  # from the header; "none" forces no fault
    tool_call: str | None  # "1" (first tool) or a tool name
    cached_tokens: int
    reasoning_tokens: int


def _non_negative(name: str, value: float) -> Any:
    if value < 0:
        raise ValueError(f"{name} must be >= 0")
    return value


def _num(headers: Mapping[str, str], name: str, default: float) -> float:
    raw = headers.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"invalid {name} header: {raw!r}") from None
    if value < 0 or value != value:
        raise ValueError(f"invalid {name} header: {raw!r}")
    return value


def resolve_plan(headers: Mapping[str, str], settings: SimSettings) -> RequestPlan:
    """Merge ``x-sim-*`` headers over the run settings; ValueError if bad."""
    s = settings
    tool = headers.get(H_TOOL_CALL)
    if tool is not None and tool.strip().lower() in ("", "0", "false", "no"):
        tool = None
    fault = headers.get(H_FAULT)
    return RequestPlan(
        latency_s=_num(headers, H_LATENCY, s.latency_ms) / 1000.0,
        ttft_s=_num(headers, H_TTFT, s.ttft_ms) / 1000.0,
        tps=_num(headers, H_TPS, s.tokens_per_second),
        output_tokens=max(1, int(_num(headers, H_OUTPUT, s.output_tokens))),
        hang_s=_num(headers, H_HANG, s.hang_s),
        fault=fault.strip().lower() if fault else None,
        tool_call=tool.strip() if tool else None,
        cached_tokens=int(_num(headers, H_CACHED, s.cached_tokens)),
        reasoning_tokens=int(_num(headers, H_REASONING, s.reasoning_tokens)),
    )
