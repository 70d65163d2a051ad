"""Credentials never reach a client through an upstream's error text.

Adapters keep the vendor's message in their errors because it says what went wrong,
but some upstreams echo the request's credentials in it (a proxy that returns the
Authorization header in its 401 body). `scrub` removes the deployment's own key and
header values, and anything shaped like a credential, before the message is used.
`Provider` applies it to every error its adapters raise (corral/providers/base.py),
so no adapter, built-in or plugin, has to remember to.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from corral.core.credentials import mask_credentials
from corral.core.errors import CorralError

REDACTED = "[redacted]"
_MIN_SECRET_CHARS = 8  # shorter configured values would blank ordinary words
# "Bearer <token>", "Basic <base64>": the scheme stays, the credential goes.
_AUTH_SCHEME = re.compile(r"(?i)\b(bearer|basic|token)(\s+)[A-Za-z0-9._~+/=-]{8,}")
# key=value or "key": "value" where the key names a credential (URLs, JSON, headers); the
# value must hold a digit, as real credentials do, so "token: expired" stays readable.
_NAMED = re.compile(
    r"(?i)(\b(?:x-|aws[_-])?(?:api[_-]?key|goog-api-key|access[_-]?key|secret(?:[_-]?access)?[_-]?key|secret"
    r"|client[_-]?secret|password|passwd|token|access[_-]?token|auth[_-]?token|authorization)"
    r"[\"']?\s*[:=]\s*[\"']?|[?&]key=)(?!bearer\b|basic\b)(?=[^\s\"'&,;}]*\d)([^\s\"'&,;}]{8,})"
)
_CREDENTIAL_HEADER = re.compile(r"(?i)auth|key|token|secret|password|cookie")


def scrub(text: str, known: Iterable[str] = ()) -> str:
    """``text`` with ``known`` secret values and credential-shaped substrings replaced."""
    for secret in known:
        if len(secret) >= _MIN_SECRET_CHARS and secret in text:
            text = text.replace(secret, REDACTED)
    text = mask_credentials(text, REDACTED)
    text = _AUTH_SCHEME.sub(rf"\1\2{REDACTED}", text)
    return _NAMED.sub(rf"\1{REDACTED}", text)


def credentials_of(api_key: str | None, headers: dict[str, str]) -> tuple[str, ...]:
    """The literal secrets a deployment sends: its key and credential-like header values."""
    found = [api_key] if api_key else []
    for name, value in headers.items():
        if _CREDENTIAL_HEADER.search(name):
            found.append(value)
            scheme, _, rest = value.partition(" ")
            if rest and scheme.lower() in ("bearer", "basic", "token"):
                found.append(rest.strip())
    return tuple(sorted(found, key=len, reverse=True))  # longest first: no partial leftovers


def scrub_error(exc: CorralError, known: Iterable[str]) -> None:
    """Scrub ``exc``'s message in place (the same object keeps travelling up)."""
    clean = scrub(exc.message, known)
    if clean != exc.message:
        exc.message = clean
        exc.args = (clean, *exc.args[1:])
