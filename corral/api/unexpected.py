"""One log line per unexpected error: enough to find it, never a flood.

A request that trips a bug must not be able to write a megabyte of log (a deeply
nested body once produced a 153 KB RecursionError traceback from a 2 KB request).
The line names the request id, where it happened and the exception; the innermost
frames follow, bounded, so the bug can still be located. The full traceback is
logged only at debug level.
"""

from __future__ import annotations

import logging
import traceback

log = logging.getLogger("corral.api")

MAX_MESSAGE_CHARS = 300
MAX_FRAMES = 3


def log_unexpected(exc: BaseException, where: str, request_id: str | None) -> None:
    """Log `exc` as one bounded line (plus the full traceback at debug level)."""
    message = str(exc).replace("\n", " ")
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[:MAX_MESSAGE_CHARS] + "..."
    frames = traceback.extract_tb(exc.__traceback__)[-MAX_FRAMES:]
    at = " <- ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}" for f in reversed(frames))
    log.error("unexpected error on %s (request %s): %s: %s [at %s]",
              where, request_id or "-", type(exc).__name__, message, at or "?")
    if log.isEnabledFor(logging.DEBUG):
        log.debug("traceback for request %s", request_id, exc_info=exc)
