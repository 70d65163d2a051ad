"""How a running gateway (or `corral worker`) uses webhooks: the secrets checked before anything
starts, the delivery handler registered, the emitter handed to where work finishes."""

from __future__ import annotations

from typing import Any

from corral.config import ConfigError
from corral.webhooks.delivery import delivery_handler
from corral.webhooks.emit import KIND, WebhookEmitter
from corral.webhooks.settings import WebhookSettings


def check_secrets(settings: WebhookSettings, source: str) -> None:
    """Every endpoint's secret variable is set and well formed, or a ConfigError naming them."""
    problems = []
    for name, endpoint in settings.endpoints.items():
        try:
            endpoint.secret.key()
        except ValueError as exc:
            problems.append(f"  webhooks.endpoints.{name}.secret: {exc}")
    if problems:
        raise ConfigError("\n".join([f"Invalid configuration in {source}:", *problems]))


def start_webhooks(gateway: Any) -> WebhookEmitter:
    """The gateway's emitter, its worker delivering (always registered: deliveries queued before
    an endpoint was removed from the file end as skipped, not queued forever)."""
    settings: WebhookSettings = gateway.settings.webhooks
    gateway.worker.register(KIND, delivery_handler(settings, gateway.metrics.count_webhook_delivery))
    return WebhookEmitter(settings, gateway.jobs)
