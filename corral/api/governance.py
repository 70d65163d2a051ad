"""``GET /admin/governance/document``: the governance document of the running gateway.

The same document as ``corral governance doc``, built from the settings the gateway runs
with (not from a file that may have changed since) and what its database holds, in
Markdown, HTML or PDF. Permission
``config.read`` (roles admin and auditor). The dashboard's Governance view shows the Markdown
and offers the other two as downloads.

HTML and PDF come as attachments, and the HTML with a Content-Security-Policy that allows
only its own inline stylesheet: opened from this origin, the page can run nothing.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from corral.api.auth import authenticate
from corral.config import Settings
from corral.core.errors import InvalidRequest
from corral.governance.document import governance_document
from corral.governance.document_people import DocumentFacts, gather_facts
from corral.governance.document_render import FORMATS, HTML_CSP, render

PATH = "/admin/governance/document"
FILENAME = "corral-governance"


def _build(settings: Settings, fmt: str, facts: DocumentFacts) -> bytes:
    return render(governance_document(settings, facts=facts), fmt)


async def get_document(request: Request) -> Response:
    """The document in ``?format=md|html|pdf`` (default md)."""
    await authenticate(request, "config.read")
    fmt = request.query_params.get("format") or "md"
    if fmt not in FORMATS:
        raise InvalidRequest(f"'format' must be one of {', '.join(FORMATS)}; got {fmt[:40]!r}.",
                             param="format")
    gateway = request.app.state.gateway
    facts = await gather_facts(gateway.db)
    # The PDF takes about 0.1 s of CPU for the default document: off the event loop.
    body = await run_in_threadpool(_build, gateway.settings, fmt, facts)
    headers = {"x-content-type-options": "nosniff", "cache-control": "no-store"}
    if fmt != "md":
        headers["content-disposition"] = f'attachment; filename="{FILENAME}.{fmt}"'
    if fmt == "html":
        headers["content-security-policy"] = HTML_CSP
    return Response(body, media_type=FORMATS[fmt], headers=headers)


#: For corral.api.app.ROUTES (``*governance.ROUTES``).
ROUTES = [Route(PATH, get_document, methods=["GET"])]
