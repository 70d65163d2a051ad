"""The order in which one request tries a route's deployments.

Priority tiers come first (tier 0 before tier 1: e.g. a contracted deployment before a
pay-as-you-go fallback). Within a tier the choice is random in proportion to the
configured weight scaled by a latency preference, so faster deployments get more of the
traffic but slower ones keep getting some: a deployment that was slow once keeps being
measured and wins its share back when it recovers. A deployment with no measurement yet
counts as the tier's fastest, so new deployments get traffic straight away.

Deployments the caller excludes (breaker open) go after all others instead of
vanishing: when everything else has failed, the router may still try them.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from collections.abc import Set as AbstractSet

from corral.routing.table import Deployment

# Latencies are floored here so a suspiciously instant answer cannot take all traffic.
MIN_LATENCY_S = 0.001


class LatencyTracker:
    """In-process exponentially weighted moving average of latency per deployment.

    Feed it time to first byte rather than total duration: the latter mostly measures
    how long the answer was, not how healthy the deployment is. Per process on purpose:
    a replica's own view of latency (its network path included) is what it should act
    on, and updating it costs nothing.
    """

    def __init__(self, alpha: float = 0.3) -> None:
        if not 0 < alpha <= 1:
            raise ValueError("alpha must be in (0, 1]")
        self.alpha = alpha
        self._ewma: dict[str, float] = {}

    def observe(self, deployment: str, seconds: float) -> None:
        """Blend one measurement in; the first one sets the average outright."""
        if not math.isfinite(seconds) or seconds < 0:
            return  # a clock glitch must not poison the average
        previous = self._ewma.get(deployment)
        if previous is None:
            self._ewma[deployment] = seconds
        else:
            self._ewma[deployment] = previous + self.alpha * (seconds - previous)

    def get(self, deployment: str) -> float | None:
        """The current average in seconds, or None before the first observation."""
        return self._ewma.get(deployment)

    def forget(self, deployment: str) -> None:
        """Drop a deployment's history (e.g. after a configuration reload)."""
        self._ewma.pop(deployment, None)


def _effective_weights(tier: list[Deployment], tracker: LatencyTracker) -> list[float]:
    """Configured weight times ``best_latency / latency``; unknown latency counts as best."""
    latencies = [tracker.get(d.name) for d in tier]
    known = [max(lat, MIN_LATENCY_S) for lat in latencies if lat is not None]
    best = min(known) if known else None
    weights = []
    for d, lat in zip(tier, latencies, strict=True):
        preference = 1.0 if lat is None or best is None else best / max(lat, MIN_LATENCY_S)
        weights.append(d.weight * preference)
    return weights


def _weighted_shuffle(tier: list[Deployment], weights: list[float], rng: random.Random) -> list[Deployment]:
    """Weighted sampling without replacement (Efraimidis-Spirakis, exponential race).

    Sorting by ``Exp(1) / weight`` gives the same order distribution as drawing the
    first by weight, then the next among the rest by weight, and so on, with one random
    draw per deployment. Ties keep configuration order, so the result is deterministic.
    """
    keys = []
    for index, weight in enumerate(weights):
        draw = -math.log(1.0 - rng.random())  # Exp(1); 1 - random() is in (0, 1]
        keys.append((draw / weight if weight > 0 else math.inf, index))
    return [tier[index] for _, index in sorted(keys)]


def _tiers(deployments: Iterable[Deployment]) -> list[list[Deployment]]:
    by_priority: dict[int, list[Deployment]] = {}
    for d in deployments:
        by_priority.setdefault(d.priority, []).append(d)
    return [by_priority[p] for p in sorted(by_priority)]


def order_deployments(
    deployments: list[Deployment],
    tracker: LatencyTracker,
    rng: random.Random,
    excluded: AbstractSet[str] = frozenset(),
) -> list[Deployment]:
    """The try order for one request: tiers by priority, weighted by weight and latency.

    Deterministic for a given ``rng`` state. Deployments named in ``excluded`` follow
    all the others, ordered among themselves the same way.
    """
    if len(deployments) <= 1:
        return list(deployments)
    order: list[Deployment] = []
    for group in (
        [d for d in deployments if d.name not in excluded],
        [d for d in deployments if d.name in excluded],
    ):
        for tier in _tiers(group):
            if len(tier) == 1:
                order.extend(tier)
            else:
                order.extend(_weighted_shuffle(tier, _effective_weights(tier, tracker), rng))
    return order
