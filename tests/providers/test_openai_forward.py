"""The multipart form a pass-through call is sent with (corral.providers.openai_forward): the
deployment's model, the file's bytes unchanged, and names that cannot break out of their header."""

from __future__ import annotations

from corral.api.multipart import MultipartReader
from corral.core.forward import FormPart
from corral.providers.openai_forward import encode_form
from tests.conftest import run


def test_the_form_is_written_out_with_the_deployments_model_and_safe_names() -> None:
    form = [FormPart("model", b"public"),
            FormPart("file", b"\x00bytes\r\n--x", 'a"b\r\nc.wav', "audio/wav\r\nx: y")]
    body = encode_form(form, "upstream-model", "BOUNDARY")

    async def parts() -> list[tuple[str, str | None, str | None, bytes]]:
        async def whole():  # type: ignore[no-untyped-def]
            yield body
        return [(p.name, p.filename, p.content_type, b"".join([c async for c in p]))
                async for p in MultipartReader(whole(), b"BOUNDARY")]

    assert run(parts()) == [("model", None, None, b"upstream-model"),
                            ("file", "a%22b%0D%0Ac.wav", "audio/wavx: y", b"\x00bytes\r\n--x")]
