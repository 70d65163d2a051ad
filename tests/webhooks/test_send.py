"""The shared webhook POST: a redirect is refused, not followed (the signed body stays where configured)."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestServer

from corral.webhooks.send import post


async def test_a_redirect_is_not_followed_and_says_what_to_configure() -> None:
    hits: list[str] = []

    async def hook(request: web.Request) -> web.StreamResponse:
        hits.append(request.path)
        if request.path == "/hook":
            raise web.HTTPTemporaryRedirect("/elsewhere")
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_post("/elsewhere", hook)
    async with TestServer(app) as server:
        error = await post(str(server.make_url("/hook")), b"{}", {}, 5.0)
    assert error is not None and "redirect to /elsewhere not followed" in error
    assert hits == ["/hook"]
