"""The effective route table as text, for `corral routes` (what the router will do)."""

from __future__ import annotations

from corral.config import ModelSettings, Settings
from corral.context.windows import DEFAULT_WINDOW, lookup


def _window(settings: Settings, provider: str, model: str, configured: int | None) -> str:
    if configured:
        return f"{configured} (configured)"
    if settings.providers[provider].type == "local":
        return str(settings.providers[provider].options.get("n_ctx", 2048)) + " (local n_ctx)"
    limits = lookup(model)
    return f"{limits.context_window} (catalog)" if limits else f"{DEFAULT_WINDOW} (default)"


def _policies(m: ModelSettings) -> list[str]:
    r, t, b, c = m.retry, m.timeouts, m.breaker, m.context
    degrade = [d for d, on in (("cached answer", m.cache_fallback),
                               (f"message {m.degraded_message!r}", m.degraded_message is not None)) if on]
    return [
        f"retry: {r.max_attempts} attempts, backoff {r.base_delay_s:g}-{r.max_delay_s:g}s full jitter, "
        f"budget {r.budget_ratio:g}/request + {r.budget_min_per_s:g}/s over {r.budget_window_s:g}s",
        f"timeouts: connect {t.connect_s:g}s, first token {t.first_token_s:g}s, idle {t.idle_s:g}s, "
        f"total {t.total_s:g}s",
        f"breaker: open at {b.failure_rate:.0%} of >= {b.min_requests} calls in {b.window_s:g}s, "
        f"for {b.open_s:g}s, {b.half_open_probes} probe(s)",
        f"context: {c.policy}, reserve {c.reserve_output_tokens} tokens"
        + (f", summarize with {c.summarize_model}" if c.summarize_model else ""),
        "when all fail: " + (", then ".join(degrade) if degrade else "error"),
    ] + ([f"content-policy fallback: {m.content_policy_fallback}"] if m.content_policy_fallback else [])


def describe_routes(settings: Settings) -> str:
    lines = [f"configuration: {settings.source}"]
    for name, model in settings.models.items():
        aliases = f" (aliases: {', '.join(model.aliases)})" if model.aliases else ""
        lines.append(f"\n{name}{aliases}")
        for dep in sorted(model.deployments, key=lambda d: d.priority):
            ptype = settings.providers[dep.provider].type
            window = _window(settings, dep.provider, dep.model, dep.context_window)
            lines.append(f"  [{dep.priority}] {dep.provider} ({ptype}) {dep.model}  "
                         f"weight {dep.weight:g}, window {window}")
        for i, fallback in enumerate(model.fallbacks, 1):
            lines.append(f"  fallback {i}: {fallback}")
        lines.extend(f"  {line}" for line in _policies(model))
    return "\n".join(lines)
