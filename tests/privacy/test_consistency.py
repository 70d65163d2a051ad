"""Request-wide consistency: a value detected once gets its placeholder everywhere in the request."""

from __future__ import annotations

import json
import re
import time

from corral.core.context import RequestContext
from corral.core.types import ChatRequest, Message, TextPart, ToolCall
from corral.privacy.consistency import MAX_VALUES, propagate
from corral.privacy.redact import Redaction, redact_request, redact_texts, request_texts
from corral.privacy.restore import restore_text
from corral.privacy.types import Span
from tests.privacy.test_stage_privacy import Upstream, collect, stage

# The stand-in detector finds only these exact strings: everything else is "missed".
KNOWN = {
    "John Smith": "PERSON", "Smith": "PERSON", "May": "PERSON", "Will": "PERSON",
    "12 Oak Street, Springfield": "ADDRESS", "ann@corp.example": "EMAIL",
    "4111 1111 1111 1111": "CREDIT_CARD", "Ann": "PERSON",
}


def detector_for(marked: str):  # type: ignore[no-untyped-def]
    """A detector that finds the KNOWN values only in texts containing `marked`."""
    def detect(text: str) -> list[Span]:
        if marked not in text:
            return []
        return [Span(m.start(), m.end(), entity) for value, entity in KNOWN.items()
                for m in re.finditer(rf"(?<!\w){re.escape(value)}(?!\w)", text)]
    return detect


def redact(request: ChatRequest, marked: str = "#detect") -> Redaction:
    detect = detector_for(marked)
    return redact_request(request, [detect(t) for t in request_texts(request)])


def contents(result: Redaction) -> list[object]:
    return [m.content for m in result.request.messages]


def test_a_value_missed_in_another_message_gets_the_same_placeholder() -> None:
    request = ChatRequest("m", [
        Message("system", "Customer: John Smith, 12 Oak Street, Springfield. #detect"),
        Message("user", "Please write to John Smith at 12 Oak Street, Springfield."),
        Message("assistant", "Done, John Smith was notified."),
    ])
    system, user, assistant = contents(redact(request))
    assert system == "Customer: [PERSON_1], [ADDRESS_1]. #detect"
    assert user == "Please write to [PERSON_1] at [ADDRESS_1]."
    assert assistant == "Done, [PERSON_1] was notified."


def test_case_and_whitespace_variants_of_names_share_the_placeholder() -> None:
    request = ChatRequest("m", [
        Message("user", "My name is John Smith. #detect"),
        Message("tool", "RECORD: JOHN SMITH / john smith", tool_call_id="c1"),
        Message("user", "Sign it John  Smith, or\nJohn\nSmith, at 12 oak street,\nspringfield"),
    ])
    result = redact(request)
    _, tool, user = contents(result)
    assert tool == "RECORD: [PERSON_1] / [PERSON_1]"
    # The address was not detected anywhere, so it stays: only detected values propagate.
    assert user == "Sign it [PERSON_1], or\n[PERSON_1], at 12 oak street,\nspringfield"
    # The answer gets the first-seen form back, whatever variant the placeholder stood for.
    assert restore_text("Hello [PERSON_1]", result.vault) == "Hello John Smith"
    assert result.vault.scrub("JOHN SMITH and John  Smith") == "[PERSON_1] and [PERSON_1]"


def test_variants_the_detector_found_itself_share_one_placeholder() -> None:
    def detect(text: str) -> list[Span]:
        return [Span(m.start(), m.end(), "PERSON") for m in re.finditer(r"(?i)john\s+smith", text)]
    request = ChatRequest("m", [Message("user", "John Smith"), Message("user", "JOHN  SMITH")])
    result = redact_request(request, [detect(t) for t in request_texts(request)])
    assert contents(result) == ["[PERSON_1]", "[PERSON_1]"]
    assert result.vault.size == 1


def test_tool_call_arguments_tool_results_names_and_user_field() -> None:
    arguments = json.dumps({"to": "John Smith", "email": "ann@corp.example",
                            "note": "card 4111 1111 1111 1111"})
    request = ChatRequest("m", [
        Message("system", "Known: John Smith, ann@corp.example, 4111 1111 1111 1111 #detect"),
        Message("assistant", None, tool_calls=[ToolCall("c1", "send", arguments)]),
        Message("tool", "Sent to ANN@CORP.EXAMPLE for john smith", tool_call_id="c1"),
        Message("user", [TextPart("thanks, John Smith here")], name="John Smith"),
    ], user="John Smith")
    result = redact(request)
    call = result.request.messages[1].tool_calls
    assert call is not None
    assert json.loads(call[0].arguments) == {
        "to": "[PERSON_1]", "email": "[EMAIL_1]", "note": "card [CREDIT_CARD_1]"}
    assert result.request.messages[2].content == "Sent to [EMAIL_1] for [PERSON_1]"
    last = result.request.messages[3]
    assert last.content == [TextPart("thanks, [PERSON_1] here")] and last.name == "[PERSON_1]"
    assert result.request.user == "[PERSON_1]"


def test_a_bare_surname_detected_once_is_replaced_where_missed() -> None:
    request = ChatRequest("m", [
        Message("user", "Ask Mr. Smith about it #detect"),
        Message("tool", "owner: Smith; status: open", tool_call_id="c1"),
    ])
    assert contents(redact(request))[1] == "owner: [PERSON_1]; status: open"


def test_short_single_words_match_their_exact_case_and_whole_words_only() -> None:
    request = ChatRequest("m", [
        Message("user", "Thanks, May, Will and Ann. #detect"),
        Message("user", "You may ask; we will see. May I? MAY. Mayor Willis, Ann-Marie, Anna"),
    ])
    assert contents(redact(request))[1] == (
        "You may ask; we will see. [PERSON_1] I? MAY. Mayor Willis, [PERSON_3]-Marie, Anna")


def test_exact_types_do_not_fold_and_embeddings_propagate_too() -> None:
    texts = ["card 4111 1111 1111 1111 for John Smith #detect", "4111  1111 1111 1111, JOHN SMITH"]
    detect = detector_for("#detect")
    out, counts, _ = redact_texts(texts, [detect(t) for t in texts])
    assert out[1] == "4111  1111 1111 1111, [PERSON_1]"
    assert counts == {"CREDIT_CARD": 1, "PERSON": 2}


def test_a_propagated_value_never_cuts_a_detected_span() -> None:
    texts = ["John Smith", "John Smithfield Road 5"]
    spans = [[Span(0, 10, "PERSON")], [Span(5, 22, "ADDRESS")]]
    out, _ = propagate(texts, spans)
    assert out[1] == [Span(5, 22, "ADDRESS")]


def test_values_are_capped_and_the_search_stays_fast() -> None:
    values = [f"Person{i:05d} Example" for i in range(MAX_VALUES + 500)]
    texts = [" ".join(values), " ".join(values)]
    spans = [[Span(m.start(), m.end(), "PERSON") for m in re.finditer(r"Person\d+ Example", texts[0])], []]
    start = time.perf_counter()
    out, _ = propagate(texts, spans)
    assert time.perf_counter() - start < 2.0
    assert len(out[1]) == MAX_VALUES


def test_nothing_detected_changes_nothing() -> None:
    request = ChatRequest("m", [Message("user", "John Smith"), Message("user", "John Smith")])
    result = redact_request(request, [[], []])
    assert result.request is request and result.vault.size == 0


async def test_the_stage_sends_no_variant_and_a_stream_restores_the_first_seen_form() -> None:
    request = ChatRequest("gpt", [Message("system", "The customer is Alice Smith."),
                                  Message("user", "ALICE SMITH here; alice  smith too")], stream=True)
    c, upstream = RequestContext("req_1", request), Upstream()
    content, _ = await collect(await stage()(c, upstream))
    sent = upstream.seen[0]
    assert [m.content for m in sent.messages] == [
        "The customer is [PERSON_1].", "[PERSON_1] here; [PERSON_1] too"]
    assert content == "You said: Alice Smith here; Alice Smith too"
    assert c.privacy is not None and c.privacy.scrub("from ALICE SMITH") == "from [PERSON_1]"


def test_many_values_with_one_first_token_stay_bounded() -> None:
    values = [f"John Q{i:04d}" for i in range(MAX_VALUES)]
    texts = ["; ".join(values), "John " * 3000]
    spans = [[Span(m.start(), m.end(), "PERSON") for m in re.finditer(r"John Q\d+", texts[0])], []]
    start = time.perf_counter()
    out, _ = propagate(texts, spans)
    assert time.perf_counter() - start < 2.0
    assert out[1] == []
