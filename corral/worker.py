"""`corral worker`: a process that runs queue work (batch lines, background responses) and
serves no HTTP. It builds the same `Gateway` as `corral serve`, so every job still runs
through the one lifecycle (privacy, routing, records, cost); only the listener is missing.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

from corral.config import Settings
from corral.gateway import Gateway
from corral.store.db import redact_url


async def run_worker(settings: Settings, say: Callable[[str], None] = print,
                     stop: asyncio.Event | None = None) -> None:
    """Run until SIGTERM/SIGINT (or `stop` is set), then shut down gracefully: claim no
    more, let running jobs finish for `jobs.shutdown_timeout_s`, release the rest."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    gateway = await Gateway.start(settings)
    try:
        kinds = ", ".join(sorted(gateway.worker.handlers))
        say(f"corral worker {gateway.worker.worker_id}: running {kinds} from {redact_url(gateway.db.url)}, "
            f"{settings.jobs.concurrency} at a time. Ctrl-C or SIGTERM stops it.")
        await stop.wait()
        say("stopping: running work finishes or goes back to the queue...")
    finally:
        await gateway.stop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
