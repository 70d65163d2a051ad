"""The dashboard page: static HTML/CSS/JS shipped as package data and served by Corral.

Why no CDN or chart library: the gateway often runs where outbound traffic is restricted,
and an operator's page must not load third-party code with an admin key in reach. The
assets hold no data; the script fetches the admin JSON endpoints (corral.api.dashboard).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from starlette.responses import Response

from corral.core.errors import NotFound

ASSETS = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
          "style.css": "text/css; charset=utf-8", "prompts.js": "text/javascript; charset=utf-8",
          "governance.js": "text/javascript; charset=utf-8", "incidents.js": "text/javascript; charset=utf-8",
          "feedback.js": "text/javascript; charset=utf-8"}
#: The page may only talk to its own origin: no inline scripts, no remote code.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


@cache
def asset(name: str) -> bytes:
    """An asset's bytes, read once (the files ship with the package)."""
    if name not in ASSETS:
        raise NotFound(f"No dashboard asset {name!r}.")
    return resources.files(__package__).joinpath("static", name).read_bytes()


def page_response(name: str | None) -> Response:
    """The page (``/dashboard``) or one of its assets (``/dashboard/app.js``)."""
    name = name or "index.html"
    headers = {"content-security-policy": CSP, "cache-control": "no-cache",
               "x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}
    return Response(asset(name), media_type=ASSETS.get(name), headers=headers)
