"""A route's `unsupported_params` policy, against the real adapters' own checks."""

from __future__ import annotations

import pytest

from corral.core.errors import UnsupportedParameter
from corral.core.types import ChatRequest, ImagePart, Message
from corral.providers._anthropic_wire import request_body
from corral.providers.anthropic import AnthropicProvider
from corral.providers.base import ProviderConfig
from corral.providers.gemini import GeminiProvider
from corral.routing.params import fit

CLAUDE = AnthropicProvider(ProviderConfig(name="an", type="anthropic", api_key="k"))
GEMINI = GeminiProvider(ProviderConfig(name="ge", type="gemini", api_key="k"))


def _ask(**kw: object) -> ChatRequest:
    extra = kw.pop("extra", {})
    return ChatRequest(model="m", messages=[Message("user", "hi")], extra=dict(extra), **kw)  # type: ignore[arg-type]


def test_error_is_the_default_and_names_the_parameter() -> None:
    with pytest.raises(UnsupportedParameter) as err:
        fit(_ask(seed=7), CLAUDE, "error")
    assert err.value.param == "seed"


def test_drop_removes_each_unsupported_parameter_and_says_which() -> None:
    asked = _ask(seed=7, temperature=0.5, extra={"store": True, "metadata": {"k": "v"}, "top_k": 4})
    fitted = fit(asked, CLAUDE, "drop")
    assert sorted(fitted.dropped) == ["metadata", "seed", "store"]
    assert fitted.request.extra == {"top_k": 4}, "Anthropic's own parameter stays"
    assert fitted.request.temperature == 0.5 and fitted.translated == []
    CLAUDE.check_supported(fitted.request)


def test_translate_maps_reasoning_effort_to_thinking_and_temperature_to_anthropic_scale() -> None:
    asked = _ask(temperature=1.6, extra={"reasoning_effort": "medium", "store": True})
    fitted = fit(asked, CLAUDE, "translate")
    assert sorted(fitted.translated) == ["reasoning_effort", "temperature"] and fitted.dropped == ["store"]
    assert fitted.request.temperature == pytest.approx(0.8)
    body = request_body(fitted.request, stream=False)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 4096}
    assert body["max_tokens"] > 4096, "room for the answer beyond the thinking budget"


@pytest.mark.parametrize(("max_tokens", "thinking"), [
    (3000, {"type": "enabled", "budget_tokens": 1500}),
    (1500, {"type": "disabled"}),
])
def test_translated_budget_fits_under_max_tokens(max_tokens: int, thinking: dict[str, object]) -> None:
    fitted = fit(_ask(max_tokens=max_tokens, extra={"reasoning_effort": "high"}), CLAUDE, "translate")
    assert fitted.request.extra["thinking"] == thinking and fitted.request.max_tokens == max_tokens


def test_what_makes_the_request_is_never_dropped() -> None:
    """Images to a provider without them stay a 400 under any policy."""
    picture = _ask()
    picture.messages = [Message("user", [ImagePart("data:image/png;base64,AAAA")])]
    without = GEMINI.capabilities.__class__(images=False)
    no_images = type("NoImages", (GeminiProvider,), {"capabilities": without})
    provider = no_images(ProviderConfig(name="ge", type="gemini", api_key="k"))
    with pytest.raises(UnsupportedParameter, match="Image"):
        fit(picture, provider, "drop")


def test_gemini_gets_max_completion_tokens_translated() -> None:
    fitted = fit(_ask(extra={"max_completion_tokens": 99}), GEMINI, "translate")
    assert fitted.request.max_tokens == 99 and fitted.translated == ["max_completion_tokens"]
