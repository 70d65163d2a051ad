"""Pass-through requests (corral.core.forward): which strings are prose, and usage in either naming."""

from __future__ import annotations

import pytest

from corral.core.forward import FormPart, ForwardRequest, usage_of
from corral.core.types import Usage


def test_prose_is_every_string_but_the_vocabulary_fields() -> None:
    call = ForwardRequest("/images/generations", "m", fields={
        "model": "m", "prompt": "a cat", "size": "256x256", "user": "u1",
        "nested": [{"text": "deep"}, {"type": "text"}]})
    assert call.texts() == ["a cat", "u1", "deep"]
    copy = call.with_texts(["A", "B", "C"])
    assert copy.fields == {"model": "m", "prompt": "A", "size": "256x256", "user": "B",
                           "nested": [{"text": "C"}, {"type": "text"}]}
    assert call.fields is not None and call.fields["prompt"] == "a cat", "the original is left alone"


def test_form_prose_is_its_text_fields_never_its_files() -> None:
    form = [FormPart("model", b"m"), FormPart("prompt", b"add a hat"),
            FormPart("image", b"\x89PNG", "in.png", "image/png"), FormPart("response_format", b"json")]
    call = ForwardRequest("/images/edits", "m", form=form)
    assert call.texts() == ["add a hat"] and call.has_files
    assert [p.data for p in call.with_texts(["X"]).form or []] == [b"m", b"X", b"\x89PNG", b"json"]


@pytest.mark.parametrize(("usage", "expected"), [
    ({"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}, Usage(3, 4)),
    ({"input_tokens": 9, "output_tokens": 272, "total_tokens": 281}, Usage(9, 272)),
    ({"total_tokens": 25}, Usage(25, 0)),
    ({"type": "duration", "seconds": 3}, None),
    (None, None),
])
def test_usage_in_either_naming(usage: object, expected: Usage | None) -> None:
    assert usage_of({"usage": usage}) == expected
