"""Try order: priority tiers, weights scaled by latency, excluded deployments last."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest

from corral.routing.selection import LatencyTracker, order_deployments
from corral.routing.table import Deployment
from tests.routing.conftest import deployment

DRAWS = 10_000


def first_pick_shares(deps: list[Deployment], tracker: LatencyTracker, seed: int = 1,
                      position: int = 0) -> dict[str, float]:
    rng = random.Random(seed)
    counts = Counter(order_deployments(deps, tracker, rng)[position].model for _ in range(DRAWS))
    return {name: n / DRAWS for name, n in counts.items()}


def test_tracker_ewma() -> None:
    t = LatencyTracker(alpha=0.5)
    assert t.get("a") is None
    t.observe("a", 1.0)
    assert t.get("a") == 1.0  # the first sample sets it
    t.observe("a", 3.0)
    assert t.get("a") == 2.0
    t.observe("a", 0.0)
    assert t.get("a") == 1.0
    t.observe("a", float("nan"))
    t.observe("a", -5.0)
    assert t.get("a") == 1.0  # garbage is ignored
    t.forget("a")
    assert t.get("a") is None


@pytest.mark.parametrize("alpha", [0.0, -0.1, 1.5])
def test_tracker_rejects_bad_alpha(alpha: float) -> None:
    with pytest.raises(ValueError):
        LatencyTracker(alpha)


def test_every_deployment_appears_once() -> None:
    deps = [deployment(n, w, p) for n, w, p in [("a", 1, 0), ("b", 3, 0), ("c", 1, 1), ("d", 2, 2)]]
    order = order_deployments(deps, LatencyTracker(), random.Random(0))
    assert sorted(d.model for d in order) == ["a", "b", "c", "d"]


def test_single_deployment_is_returned_as_a_new_list() -> None:
    deps = [deployment("a")]
    order = order_deployments(deps, LatencyTracker(), random.Random(0))
    assert order == deps and order is not deps


def test_lower_priority_tier_always_comes_first() -> None:
    deps = [deployment("backup", 100.0, 1), deployment("main-1", 1.0, 0), deployment("main-2", 1.0, 0),
            deployment("last", 100.0, 2)]
    rng = random.Random(3)
    for _ in range(1000):
        order = [d.model for d in order_deployments(deps, LatencyTracker(), rng)]
        assert set(order[:2]) == {"main-1", "main-2"}
        assert order[2:] == ["backup", "last"]


def test_weights_within_a_tier() -> None:
    deps = [deployment("a", 1.0), deployment("b", 2.0), deployment("c", 7.0)]
    shares = first_pick_shares(deps, LatencyTracker())
    assert shares["a"] == pytest.approx(0.1, abs=0.015)
    assert shares["b"] == pytest.approx(0.2, abs=0.015)
    assert shares["c"] == pytest.approx(0.7, abs=0.015)
    # The rest of the tier follows in the same manner (weighted, without replacement):
    # P(b second) = P(a first) * 2/9 + P(c first) * 2/3
    second = first_pick_shares(deps, LatencyTracker(), position=1)
    assert second["b"] == pytest.approx(0.1 * 2 / 9 + 0.7 * 2 / 3, abs=0.015)


def test_prefers_the_lower_latency_deployment() -> None:
    deps = [deployment("fast"), deployment("slow")]
    tracker = LatencyTracker()
    tracker.observe("fake/fast", 0.1)
    tracker.observe("fake/slow", 0.3)
    shares = first_pick_shares(deps, tracker)
    assert shares["fast"] == pytest.approx(0.75, abs=0.015)  # weight / latency: 10 vs 3.33
    assert shares["slow"] == pytest.approx(0.25, abs=0.015)  # slower, but still measured


def test_latency_scales_the_configured_weight() -> None:
    deps = [deployment("fast", 1.0), deployment("slow", 6.0)]
    tracker = LatencyTracker()
    tracker.observe("fake/fast", 0.1)
    tracker.observe("fake/slow", 0.2)
    assert first_pick_shares(deps, tracker)["slow"] == pytest.approx(0.75, abs=0.015)  # 3 vs 1


def test_unknown_latency_counts_as_the_tiers_best() -> None:
    deps = [deployment("known-fast"), deployment("new"), deployment("known-slow")]
    tracker = LatencyTracker()
    tracker.observe("fake/known-fast", 0.5)
    tracker.observe("fake/known-slow", 1.0)
    shares = first_pick_shares(deps, tracker)  # weights 1 : 1 : 0.5
    assert shares["new"] == pytest.approx(0.4, abs=0.015)
    assert shares["known-fast"] == pytest.approx(0.4, abs=0.015)
    assert shares["known-slow"] == pytest.approx(0.2, abs=0.015)


def test_latency_only_compares_within_a_tier() -> None:
    deps = [deployment("slow-primary", 1.0, 0), deployment("fast-backup", 1.0, 1)]
    tracker = LatencyTracker()
    tracker.observe("fake/slow-primary", 5.0)
    tracker.observe("fake/fast-backup", 0.1)
    order = order_deployments(deps, tracker, random.Random(0))
    assert [d.model for d in order] == ["slow-primary", "fast-backup"]


def test_excluded_go_last_in_their_own_tier_order() -> None:
    deps = [deployment("a", 1.0, 0), deployment("b", 1.0, 0), deployment("c", 1.0, 1),
            deployment("d", 1.0, 1)]
    rng = random.Random(5)
    for _ in range(500):
        order = [d.model for d in order_deployments(deps, LatencyTracker(), rng, {"fake/a", "fake/c"})]
        assert order[:2] == ["b", "d"]
        assert order[2:] == ["a", "c"]


def test_all_excluded_still_returns_every_deployment() -> None:
    deps = [deployment("a", 1.0, 1), deployment("b", 1.0, 0)]
    order = order_deployments(deps, LatencyTracker(), random.Random(0), {"fake/a", "fake/b"})
    assert [d.model for d in order] == ["b", "a"]


def test_deterministic_given_the_rng() -> None:
    deps = [deployment(str(i), 1.0 + i, i % 2) for i in range(6)]
    tracker = LatencyTracker()
    tracker.observe("fake/2", 0.4)
    first = [order_deployments(deps, tracker, random.Random(99)) for _ in range(3)]
    assert first[0] == first[1] == first[2]
    rng = random.Random(99)
    draws = {tuple(d.model for d in order_deployments(deps, tracker, rng)) for _ in range(50)}
    assert len(draws) > 1  # different draws from one stream do vary


def test_instant_latencies_do_not_divide_by_zero() -> None:
    deps = [deployment("a"), deployment("b")]
    tracker = LatencyTracker()
    tracker.observe("fake/a", 0.0)
    tracker.observe("fake/b", 0.0)
    shares = first_pick_shares(deps, tracker)
    assert all(math.isclose(s, 0.5, abs_tol=0.02) for s in shares.values())
