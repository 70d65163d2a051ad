"""`corral routes` output reflects the configuration the router will use."""

from __future__ import annotations

from corral.config import Settings
from corral.routing.describe import describe_routes


def test_describe_shows_tiers_fallbacks_windows_and_policies() -> None:
    settings = Settings.model_validate({
        "providers": {"oa": {"type": "openai"}, "loc": {"type": "local", "options": {"n_ctx": 4096}}},
        "models": {
            "chat": {
                "deployments": [
                    {"provider": "oa", "model": "gpt-4o-mini", "priority": 1},
                    {"provider": "oa", "model": "mystery-model", "context_window": 32000},
                ],
                "fallbacks": ["tiny"],
                "retry": {"max_attempts": 4},
                "context": {"policy": "summarize", "summarize_model": "tiny"},
                "degraded_message": "busy",
            },
            "tiny": {"deployments": [{"provider": "loc", "model": "smol"}], "cache_fallback": False},
        },
    })
    text = describe_routes(settings)
    chat = text.split("\ntiny")[0]
    assert chat.index("[0] oa (openai) mystery-model") < chat.index("[1] oa (openai) gpt-4o-mini")
    assert "window 32000 (configured)" in chat and "window 128000 (catalog)" in chat
    assert "fallback 1: tiny" in chat and "retry: 4 attempts" in chat
    assert "context: summarize" in chat and "summarize with tiny" in chat
    assert "cached answer, then message 'busy'" in chat
    tiny = text.split("\ntiny")[1]
    assert "window 4096 (local n_ctx)" in tiny and "when all fail: error" in tiny
