"""GET /metrics: the Prometheus scrape endpoint.

Admin-scoped by default: the series name teams, models and spend, which is operational
data not every key holder should read. A scraper inside the network can be let in without
a key with `observability.metrics_public: true`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from corral.api.auth import authenticate
from corral.core.errors import NotFound
from corral.observe.metrics import CONTENT_TYPE
from corral.observe.settings import ObservabilitySettings


async def metrics_endpoint(request: Request) -> Response:
    gateway = request.app.state.gateway
    settings = getattr(gateway.settings, "observability", None) or ObservabilitySettings()
    if not settings.metrics_public:
        await authenticate(request, "records.read")
    metrics = getattr(gateway, "metrics", None)
    if metrics is None:
        raise NotFound("Metrics are not enabled on this gateway.")
    return Response(metrics.render(), media_type=CONTENT_TYPE)
