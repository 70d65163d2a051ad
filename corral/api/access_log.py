"""Keep credentials out of the access log: values of key-like query parameters are redacted.

Why: the access log records each request's path with its query string, and access logs
are kept, shipped and read far more widely than keys should be. Corral never asks for a
key in a URL (the dashboard takes it from the ``#key=`` fragment, which browsers do not
send), but an old bookmark or a client may still put one there.
"""

from __future__ import annotations

import logging
import re

ACCESS_LOGGER = "uvicorn.access"
#: Query parameters whose values never reach the log.
_SECRET_PARAM = re.compile(r"([?&](?:key|api[_-]?key|access[_-]?token|token|password|secret)=)[^&#]*",
                           re.IGNORECASE)
REDACTED = "[redacted]"


def redact_query(path: str) -> str:
    """``path`` with the values of key-like query parameters replaced by ``[redacted]``."""
    return _SECRET_PARAM.sub(r"\g<1>" + REDACTED, path) if "=" in path else path


class RedactSecrets(logging.Filter):
    """Rewrites uvicorn's access record, whose third argument is the path with its query."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_query(args[2]), *args[3:])
        return True


def redact_access_log() -> None:
    """Install the filter on uvicorn's access logger (once; uvicorn's logging setup keeps it)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, RedactSecrets) for f in logger.filters):
        logger.addFilter(RedactSecrets())
