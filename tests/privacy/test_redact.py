"""Redaction: placeholder numbering and reuse, collision-free forms, every provider-visible text."""

from __future__ import annotations

import json
import re

import pytest

from corral.core.types import ChatRequest, ImagePart, Message, TextPart, ToolCall
from corral.privacy.redact import (
    Vault,
    choose_form,
    entity_label,
    mask,
    redact_request,
    redact_text,
    request_texts,
    select_spans,
    span_report,
)
from corral.privacy.types import Span

RULES = [
    ("EMAIL", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), 1.0),
    ("PHONE", re.compile(r"\+?\d[\d -]{6,}\d"), 0.9),
    ("PERSON", re.compile(r"\b(?:Alice Smith|Bob)\b"), 0.7),
]


def detect(text: str) -> list[Span]:
    """A stand-in for PIIDetector: emails, phone numbers and two known names."""
    return [Span(m.start(), m.end(), name, score, "rule") for name, rx, score in RULES
            for m in rx.finditer(text)]


def redact(request: ChatRequest):  # type: ignore[no-untyped-def]
    return redact_request(request, [detect(t) for t in request_texts(request)])


def test_numbering_is_per_type_and_values_keep_their_placeholder() -> None:
    vault = Vault()
    text = "a@x.io wrote to b@y.io; call +1 555 123 4567; cc a@x.io"
    out = redact_text(text, detect(text), vault)
    assert out == "[EMAIL_1] wrote to [EMAIL_2]; call [PHONE_1]; cc [EMAIL_1]"
    assert vault.value("[EMAIL_2]") == "b@y.io" and vault.value("[email_2]") == "b@y.io"
    assert vault.size == 3 and vault.longest == len("[EMAIL_1]")


def test_same_value_same_placeholder_across_the_whole_request() -> None:
    request = ChatRequest("m", [
        Message("system", "The customer is Alice Smith <alice@corp.example>."),
        Message("user", "Write to alice@corp.example please, and to bob@corp.example."),
    ])
    result = redact(request)
    system, user = (m.content for m in result.request.messages)
    assert system == "The customer is [PERSON_1] <[EMAIL_1]>."
    assert user == "Write to [EMAIL_1] please, and to [EMAIL_2]."
    assert result.entities == {"PERSON": 1, "EMAIL": 3}


def test_every_provider_visible_text_is_covered_and_images_are_not() -> None:
    image = ImagePart("https://img.example/bob@corp.example.png")
    args = json.dumps({"to": "bob@corp.example", "body": "hi \"Bob\"\nbye", "n": 3})
    request = ChatRequest("m", [
        Message("system", "Reach ops at ops@corp.example"),
        Message("user", [TextPart("I am Bob, +44 20 7946 0958"), image], name="Bob"),
        Message("assistant", None, tool_calls=[ToolCall("c1", "send_mail", args)]),
        Message("tool", "sent to bob@corp.example", tool_call_id="c1"),
    ], user="bob@corp.example")
    result = redact(request)
    system, user, assistant, tool = result.request.messages
    assert system.content == "Reach ops at [EMAIL_1]"
    assert user.content == [TextPart("I am [PERSON_1], [PHONE_1]"), image]  # the image is untouched
    assert user.name == "[PERSON_1]"
    assert assistant.tool_calls is not None
    call = assistant.tool_calls[0]
    assert (call.id, call.name) == ("c1", "send_mail")
    assert json.loads(call.arguments) == {"to": "[EMAIL_2]", "body": "hi \"[PERSON_1]\"\nbye", "n": 3}
    assert tool.content == "sent to [EMAIL_2]" and tool.tool_call_id == "c1"
    assert result.request.user == "[EMAIL_2]"
    # the original request is not modified
    assert request.messages[0].content == "Reach ops at ops@corp.example"
    assert request.user == "bob@corp.example"


def test_unparseable_tool_arguments_are_redacted_as_text() -> None:
    request = ChatRequest("m", [Message("assistant", None,
                                        tool_calls=[ToolCall("c", "f", '{"to": "a@b.io", ')])])
    assert redact(request).request.messages[0].tool_calls[0].arguments == '{"to": "[EMAIL_1]", '  # type: ignore[index]


def test_nothing_found_returns_the_request_itself() -> None:
    request = ChatRequest("m", [Message("user", "nothing personal here")])
    result = redact(request)
    assert result.request is request and result.entities == {} and result.vault.size == 0


@pytest.mark.parametrize(("existing", "expected"), [
    ("plain text", "[EMAIL_1]"),
    ("the template has [EMAIL_1] in it", "[[EMAIL_1]]"),
    ("lower case too: [person_7]", "[[EMAIL_1]]"),
    ("[[EMAIL_1]] and [X_2]", "<<EMAIL_1>>"),
    ("[A_1] [[A_1]] <<A_1>> {{A_1}}", "⟦EMAIL_1⟧"),
])
def test_placeholders_never_collide_with_text_in_the_prompt(existing: str, expected: str) -> None:
    request = ChatRequest("m", [Message("user", f"{existing} -- mail me at z@q.io")])
    result = redact(request)
    assert result.vault.placeholders == [expected]
    assert result.request.messages[0].content == f"{existing} -- mail me at {expected}"


def test_last_resort_form_is_a_random_tag_absent_from_the_prompt() -> None:
    texts = ["[A_1] [[A_1]] <<A_1>> {{A_1}} ⟦A_1⟧"]
    open_, close = choose_form(texts)
    assert open_ == "[" and re.fullmatch(r"~[0-9a-f]{4}\]", close)
    vault = Vault((open_, close))
    placeholder = vault.placeholder("EMAIL", "z@q.io")
    assert placeholder == f"[EMAIL_1{close}" and placeholder not in texts[0]


def test_overlapping_spans_keep_the_earliest_longest() -> None:
    spans = [Span(0, 5, "A"), Span(0, 9, "B"), Span(3, 12, "C"), Span(12, 14, "D"), Span(20, 99, "E")]
    assert [s.entity for s in select_spans(spans, 15)] == ["B", "D"]


def test_entity_labels_are_placeholder_safe() -> None:
    assert entity_label("credit-card") == "CREDIT_CARD" and entity_label("US_SSN") == "US_SSN"
    assert entity_label("??") == "PII"


def test_scrub_replaces_values_and_repr_hides_them() -> None:
    vault = Vault()
    vault.placeholder("EMAIL", "a@b.io")
    vault.placeholder("EMAIL", "xa@b.io")
    assert vault.scrub("from xa@b.io and a@b.io") == "from [EMAIL_2] and [EMAIL_1]"
    assert "a@b.io" not in repr(vault)


def test_masking_and_reports() -> None:
    assert mask("alice@corp.example") == "a****************e"
    assert mask("ab") == "**" and mask("") == ""
    span = Span(3, 9, "EMAIL", 0.87654, "model")
    text = "hi a@b.io!"
    assert span_report(span, text) == {"start": 3, "end": 9, "entity": "EMAIL", "score": 0.8765,
                                       "source": "model", "value": "a****o"}
    assert span_report(span, text, "raw")["value"] == "a@b.io"
    assert "value" not in span_report(span, text, "none")


def test_spans_must_match_the_texts() -> None:
    with pytest.raises(ValueError, match="spans for 0 texts"):
        redact_request(ChatRequest("m", [Message("user", "x")]), [])
