"""Provider lookup by configured `type`, through the same hook plugins use.

Each built-in adapter module defines `register_providers(register)`, exactly as a
third-party plugin would (entry-point group `corral.providers`), so the router
never imports a concrete provider.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points

from corral.providers.base import Provider, ProviderConfig

ProviderFactory = Callable[[ProviderConfig], Provider]

BUILTIN_PROVIDER_MODULES = (
    "corral.providers.openai",
    "corral.providers.anthropic",
    "corral.providers.gemini",
    "corral.providers.bedrock",
    "corral.providers.local",
    "corral.providers.local_embed",
    "corral.providers.azure",
)

_registry: dict[str, ProviderFactory] | None = None


def _load() -> dict[str, ProviderFactory]:
    found: dict[str, ProviderFactory] = {}

    def register(type_name: str, factory: ProviderFactory) -> None:
        found[type_name] = factory

    for module_name in BUILTIN_PROVIDER_MODULES:
        module = importlib.import_module(module_name)
        module.register_providers(register)
    for ep in entry_points(group="corral.providers"):
        ep.load()(register)
    return found


def provider_types() -> dict[str, ProviderFactory]:
    """Every known provider type, built-ins first, then plugins."""
    global _registry
    if _registry is None:
        _registry = _load()
    return _registry


def register_provider_type(type_name: str, factory: ProviderFactory) -> None:
    """Add a provider type at run time (tests and embedding applications)."""
    provider_types()[type_name] = factory


def create_provider(config: ProviderConfig) -> Provider:
    types = provider_types()
    try:
        factory = types[config.type]
    except KeyError:
        known = ", ".join(sorted(types))
        raise ValueError(f"unknown provider type '{config.type}' (known: {known})") from None
    return factory(config)
