"""GET /admin/governance/document: formats, content types, and who may read it."""

from __future__ import annotations

import httpx
import pypdfium2 as pdfium

from corral.governance.audit import config_fingerprint
from corral.governance.document_render import HTML_CSP
from tests.conftest import RunningServer

PATH = "/admin/governance/document"


def _get(server: RunningServer, key: str, query: str = "") -> httpx.Response:
    return httpx.get(server.url + PATH + query, headers={"authorization": f"Bearer {key}"}, timeout=30)


def _key(server: RunningServer, roles: list[str]) -> str:
    r = httpx.post(server.url + "/admin/keys", json={"name": "-".join(roles), "roles": roles},
                   headers={"authorization": f"Bearer {server.admin_key}"}, timeout=10)
    assert r.status_code == 201, r.text
    return str(r.json()["key"])


def test_each_format_with_its_content_type(fake_server: RunningServer) -> None:
    settings = fake_server.gateway.settings
    sha = config_fingerprint(settings.model_dump_json(), settings.source)["sha256"]
    md = _get(fake_server, fake_server.admin_key)
    assert md.status_code == 200, md.text
    assert md.headers["content-type"] == "text/markdown; charset=utf-8"
    assert "content-disposition" not in md.headers
    assert md.text.startswith("# Corral governance document") and sha in md.text
    assert "`echo`" in md.text  # the running gateway's routes, not the defaults

    html = _get(fake_server, fake_server.admin_key, "?format=html")
    assert html.status_code == 200
    assert html.headers["content-type"] == "text/html; charset=utf-8"
    assert html.headers["content-disposition"] == 'attachment; filename="corral-governance.html"'
    assert html.headers["content-security-policy"] == HTML_CSP
    assert html.text.startswith("<!doctype html>") and sha in html.text

    pdf = _get(fake_server, fake_server.admin_key, "?format=pdf")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"] == 'attachment; filename="corral-governance.pdf"'
    doc = pdfium.PdfDocument(pdf.content)
    try:
        assert len(doc) > 1
        assert sha in "".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
    finally:
        doc.close()


def test_an_unknown_format_is_a_400_naming_the_parameter(fake_server: RunningServer) -> None:
    r = _get(fake_server, fake_server.admin_key, "?format=docx")
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == "format"
    assert "md, html, pdf" in error["message"]


def test_auditors_read_it_and_inference_keys_do_not(fake_server: RunningServer) -> None:
    assert _get(fake_server, _key(fake_server, ["auditor"]), "?format=pdf").status_code == 200
    denied = _get(fake_server, _key(fake_server, ["inference"]))
    assert denied.status_code == 403
    assert "lacks the 'config.read' permission" in denied.json()["error"]["message"]
    assert httpx.get(fake_server.url + PATH, timeout=10).status_code == 401
