"""The simulator samples tool arguments from a client's schema; a malformed one must not crash it
(the fuzz test found `required: [1]` turned into a 500, so the gateway reported an outage)."""

from __future__ import annotations

from typing import Any

import pytest

from corral.simulator.generate import MAX_SAMPLE_ITEMS, sample_from_schema


@pytest.mark.parametrize("schema", [
    {"type": "object", "properties": {"x": {"type": "string"}}, "required": [1]},
    {"type": "object", "properties": {"x": {"type": "string"}}, "required": [None, {}, [], "x"]},
    {"type": "object", "properties": ["x"], "required": ["x"]},
    {"type": "object", "required": "x"},
])
def test_malformed_object_schemas_give_a_sample(schema: dict[str, Any]) -> None:
    sample = sample_from_schema(schema)
    assert isinstance(sample, dict) and all(isinstance(k, str) for k in sample)


def test_min_items_is_bounded() -> None:
    sample = sample_from_schema({"type": "array", "minItems": 10**9, "items": {"type": "integer"}})
    assert len(sample) == MAX_SAMPLE_ITEMS
    assert sample_from_schema({"type": "array", "minItems": "3"}) == []
