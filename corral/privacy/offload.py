"""Where detection runs: a dedicated thread pool, never the event loop.

Detection is CPU-bound (the models take about a millisecond per 8 characters on 2 cores), so
every caller (the privacy stage, the admin scan) hands it to this pool. Two threads, one per
core, so a burst of detection queues here instead of taking every thread of the default
executor. While a detection thread runs Python code, the event loop waits up to the
interpreter's switch interval each time it takes the GIL back: at the default 5 ms, /healthz
took 30-63 ms while 1 MB was detected; at 1 ms, 15-19 ms. The interval is process-wide, so it
is lowered once, when the pool is made.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

DETECT_THREADS = 2
SWITCH_INTERVAL_S = 0.001
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _detect_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
            _pool = ThreadPoolExecutor(DETECT_THREADS, thread_name_prefix="pii-detect")
        return _pool


async def off_loop(work: Callable[..., Any], *args: Any) -> Any:
    """`work(*args)` on a detection thread."""
    return await asyncio.get_running_loop().run_in_executor(_detect_pool(), work, *args)
