"""Which routes may serve a request: the privacy stage applies the strictest of their policies."""

from __future__ import annotations

from pathlib import Path

from corral.routing.table import RouteTable
from tests.conftest import settings_for


def _table(tmp_path: Path) -> RouteTable:
    fake = {"deployments": [{"provider": "fake", "model": "echo"}]}
    return RouteTable.from_settings(settings_for(tmp_path, {"fake": {"type": "fake"}}, {
        "a": {**fake, "aliases": ["alpha"], "fallbacks": ["b"], "content_policy_fallback": "c"},
        "b": {**fake, "fallbacks": ["d", "a"]},  # a loop back to a: walked once
        "c": fake, "d": fake, "lonely": fake,
    }))


def test_fallbacks_and_content_policy_fallbacks_are_followed_transitively(tmp_path: Path) -> None:
    table = _table(tmp_path)
    assert table.serving_routes("alpha") == ("a", "b", "c", "d")
    assert table.serving_routes("lonely") == ("lonely",)


def test_unknown_names_are_answered_but_never_kept(tmp_path: Path) -> None:
    table = _table(tmp_path)
    for i in range(100):
        assert table.serving_routes(f"made-up-{i}") == (f"made-up-{i}",)
    table.serving_routes("a")
    assert set(table._serving) == {"a"}, "only configured names are remembered"
