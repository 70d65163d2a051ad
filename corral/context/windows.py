"""How many tokens a deployment can take: configuration, then the engine, then a catalog.

Why a catalog: OpenAI, Anthropic and Gemini do not report a model's window through their
chat APIs, yet the context stage must know it *before* sending, to truncate, summarize or
pick a larger model instead of collecting a 400. The figures live in
`model_windows.json` (with the pages they come from) so updating them is a data change.

Lookup order for `effective_window(deployment)`:
1. the deployment's configured `context_window` (the operator knows best: Azure deployment
   names, fine-tunes, a 1M-token beta header, a vLLM `--max-model-len`);
2. the provider's own `context_window` attribute, when it has one (the local model knows
   its `n_ctx`);
3. the catalog, by longest model-name prefix (`gpt-4o-mini-2024-07-18` -> `gpt-4o-mini`);
4. `DEFAULT_WINDOW` (8192): small on purpose, so an unknown model is truncated or
   summarized rather than sent a prompt it may reject; configure `context_window` for it.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from corral.routing.table import Deployment

DEFAULT_WINDOW = 8192
CATALOG_FILE = "model_windows.json"

# Bedrock and Vertex spell vendor models as "us.anthropic.claude-...", "anthropic.claude-...".
_VENDOR_PREFIX = re.compile(r"^(?:[a-z]{2,4}\.)?(?:anthropic|openai|google|meta)\.")


@dataclass(frozen=True, slots=True)
class ModelLimits:
    """A catalog entry: the published window, the output cap and, if lower, the input cap."""

    prefix: str
    context_window: int
    max_output_tokens: int | None = None
    max_input_tokens: int | None = None


@functools.cache
def catalog() -> dict[str, ModelLimits]:
    """The bundled catalog, read once per process."""
    text = resources.files("corral.context").joinpath(CATALOG_FILE).read_text(encoding="utf-8")
    raw: dict[str, dict[str, Any]] = json.loads(text)["models"]
    return {
        prefix.lower(): ModelLimits(
            prefix=prefix.lower(),
            context_window=int(entry["context_window"]),
            max_output_tokens=entry.get("max_output_tokens"),
            max_input_tokens=entry.get("max_input_tokens"),
        )
        for prefix, entry in raw.items()
    }


@functools.cache
def _prefixes_longest_first() -> tuple[str, ...]:
    return tuple(sorted(catalog(), key=len, reverse=True))


def normalize_model(model: str) -> str:
    """'openai/gpt-4o', 'ft:gpt-4o-mini:org::id', 'us.anthropic.claude-...' -> the bare name."""
    name = model.strip().lower().rsplit("/", 1)[-1]
    if name.startswith("ft:"):
        name = name[3:].split(":", 1)[0]
    return _VENDOR_PREFIX.sub("", name)


@functools.lru_cache(maxsize=1024)
def lookup(model: str) -> ModelLimits | None:
    """The catalog entry with the longest prefix of `model`, or None if nothing matches."""
    name = normalize_model(model)
    for prefix in _prefixes_longest_first():
        if name.startswith(prefix):
            return catalog()[prefix]
    return None


def _provider_window(deployment: Deployment) -> int | None:
    own = getattr(deployment.provider, "context_window", None)
    if isinstance(own, int) and not isinstance(own, bool) and own > 0:
        return own
    return None


def effective_window(deployment: Deployment) -> int:
    """Tokens one request to `deployment` may use, prompt and answer together."""
    if deployment.context_window:
        return deployment.context_window
    own = _provider_window(deployment)
    if own is not None:
        return own
    limits = lookup(deployment.model)
    return limits.context_window if limits is not None else DEFAULT_WINDOW


def prompt_limit(deployment: Deployment, reserve: int) -> int:
    """Tokens the prompt may use when `reserve` tokens are kept for the answer.

    The window minus the reserve, further capped by a published input limit (GPT-5 takes
    at most 272k prompt tokens of its 400k window) unless the window was configured.
    """
    limit = effective_window(deployment) - reserve
    if not deployment.context_window and _provider_window(deployment) is None:
        limits = lookup(deployment.model)
        if limits is not None and limits.max_input_tokens:
            limit = min(limit, limits.max_input_tokens)
    return max(0, limit)


def max_output_tokens(model: str) -> int | None:
    """The catalog's output cap for `model`, if known."""
    limits = lookup(model)
    return limits.max_output_tokens if limits is not None else None
