"""GET /metrics: the Prometheus scrape endpoint.

Admin-scoped by default: the series name teams, models and spend, which is operational
data not every key holder should read. A scraper inside the network can be let in without
a key with `observability.metrics_public: true`.

Besides the records' series, each scrape reports `corral_process_asyncio_tasks`, the live
asyncio tasks of the answering process: a task leak (a stream or watcher never finished) shows
as steady growth, which bench/soak.py checks. Counting them walks asyncio's task set once per
scrape (about 1 us per task), never per request.
"""

from __future__ import annotations

import asyncio

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
    return Response(metrics.render() + process_gauges(), media_type=CONTENT_TYPE)


def process_gauges() -> bytes:
    """This process's live asyncio tasks, in the exposition format."""
    name = "corral_process_asyncio_tasks"
    return (f"# HELP {name} Live asyncio tasks in this process.\n# TYPE {name} gauge\n"
            f"{name} {len(asyncio.all_tasks())}\n").encode()
