"""The window catalog and the order in which a deployment's window is decided."""

from __future__ import annotations

import pytest

from corral.context import windows
from corral.context.windows import DEFAULT_WINDOW, effective_window, lookup, max_output_tokens, prompt_limit
from corral.providers.base import ProviderConfig
from corral.providers.local import LocalProvider
from corral.routing.table import Deployment
from tests.fakes import FakeProvider


def _fake() -> FakeProvider:
    return FakeProvider(ProviderConfig(name="fake", type="fake"))


class _SizedProvider(FakeProvider):
    context_window = 4096


@pytest.mark.parametrize(("model", "window"), [
    ("gpt-4o", 128000), ("gpt-4o-2024-08-06", 128000), ("gpt-4o-mini-2024-07-18", 128000),
    ("gpt-4.1", 1047576), ("gpt-4.1-mini-2025-04-14", 1047576), ("gpt-4", 8192), ("gpt-4-0613", 8192),
    ("gpt-4-turbo-2024-04-09", 128000), ("gpt-3.5-turbo", 16385), ("gpt-5", 400000),
    ("gpt-5-chat-latest", 128000), ("o1-mini", 128000), ("o3", 200000), ("o4-mini", 200000),
    ("claude-sonnet-4", 200000), ("claude-sonnet-4-20250514", 200000), ("claude-3-5-haiku-latest", 200000),
    ("claude-opus-4-1-20250805", 200000), ("claude-some-future-model", 200000),
    ("gemini-2.5-pro", 1048576), ("gemini-1.5-pro-002", 2097152), ("gemini-2.0-flash-001", 1048576),
    # provider-prefixed spellings
    ("openai/gpt-4o", 128000), ("ft:gpt-4o-mini:acme::abc", 128000), ("models/gemini-2.5-flash", 1048576),
    ("us.anthropic.claude-3-7-sonnet-20250219-v1:0", 200000), ("GPT-4O", 128000),
])
def test_catalog_window(model: str, window: int) -> None:
    limits = lookup(model)
    assert limits is not None and limits.context_window == window


def test_longest_prefix_wins() -> None:
    assert lookup("gpt-4o-mini").prefix == "gpt-4o-mini"  # type: ignore[union-attr]
    assert lookup("gpt-4o-2024-05-13").max_output_tokens == 4096  # type: ignore[union-attr]
    assert lookup("gpt-4o-2024-08-06").prefix == "gpt-4o"  # type: ignore[union-attr]
    assert lookup("claude-opus-4-1").max_output_tokens == 32000  # type: ignore[union-attr]
    assert lookup("claude-opus-4-5").max_output_tokens == 64000  # type: ignore[union-attr]
    assert max_output_tokens("gemini-2.5-flash-lite") == 65536
    assert max_output_tokens("gemini-2.0-flash-lite") == 8192


def test_unknown_models() -> None:
    assert lookup("smollm2-135m-instruct") is None
    assert lookup("llama-3.1-8b") is None
    assert max_output_tokens("echo") is None


def test_catalog_is_consistent() -> None:
    entries = windows.catalog()
    assert len(entries) > 40
    for prefix, limits in entries.items():
        assert prefix == prefix.lower()
        assert limits.context_window > 0
        if limits.max_output_tokens is not None:
            assert 0 < limits.max_output_tokens <= limits.context_window
        if limits.max_input_tokens is not None:
            assert limits.max_input_tokens < limits.context_window


def test_effective_window_order() -> None:
    # 1. configured
    assert effective_window(Deployment(_fake(), "gpt-4o", context_window=1000)) == 1000
    # 2. the provider's own window (a local engine knows its n_ctx)
    assert effective_window(Deployment(_SizedProvider(ProviderConfig("s", "fake")), "gpt-4o")) == 4096
    local = LocalProvider(ProviderConfig(name="local", type="local", options={"n_ctx": 1024}))
    assert effective_window(Deployment(local, "smollm2-135m-instruct")) == 1024
    # 3. the catalog
    assert effective_window(Deployment(_fake(), "claude-sonnet-4-20250514")) == 200000
    # 4. the documented default
    assert effective_window(Deployment(_fake(), "echo")) == DEFAULT_WINDOW == 8192


def test_prompt_limit_applies_input_caps() -> None:
    assert prompt_limit(Deployment(_fake(), "gpt-5-mini"), 512) == 272000
    assert prompt_limit(Deployment(_fake(), "gpt-4o"), 512) == 128000 - 512
    # a configured window is taken as is
    assert prompt_limit(Deployment(_fake(), "gpt-5", context_window=300000), 1000) == 299000
    assert prompt_limit(Deployment(_fake(), "echo", context_window=100), 500) == 0
