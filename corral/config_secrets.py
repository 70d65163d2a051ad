"""Secrets never come from the configuration file: find the ones written there anyway.

`corral.yaml` is meant to be committed and shared, so a key in it leaks with the
repository. `api_key:` was always refused; the same key written as a provider header
(``Authorization: Bearer sk-...``), an adapter option (``api_key``) or anywhere else
got through. This walks the file's data and reports, by key path, every value that is
a secret by its name (authorization, api-key, token, secret, password, ...) or by its
shape (``sk-...``, ``AKIA...``, a URL with a password). Values are never echoed.
"""

from __future__ import annotations

import re
from typing import Any

from corral.core.credentials import has_credential

# A key names a credential when its last word is one of these (x-api-key, X-Proxy-Token,
# webhook_secret); max_tokens or tokenizer do not.
_CREDENTIAL_NAME = re.compile(
    r"(?i)^(?:[a-z0-9]+[-_])*(?:authorization|api[-_]?key|apikey|key[-_]?secret|token|secret|secret[-_]?key"
    r"|password|passwd|pwd|private[-_]?key|access[-_]?key|cookie|credentials?)$"
)
_BEARER = re.compile(r"(?i)^\s*(?:bearer|basic)\s+\S{8,}")
_URL_PASSWORD = re.compile(r"(?i)\b[a-z][a-z0-9+.-]{1,15}://[^\s:/@]*:[^\s/@]+@")
_URL_ENV = {"database_url": "CORRAL_DATABASE_URL", "redis_url": "CORRAL_REDIS_URL"}


def literal_secrets(data: Any) -> list[tuple[str, str]]:
    """(key path, reason) for each secret written literally in the file's data."""
    found: list[tuple[str, str]] = []
    stack: list[tuple[tuple[str, ...], Any]] = [((), data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            stack.extend(((*path, str(k)), v) for k, v in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend(((*path, str(i)), v) for i, v in reversed(list(enumerate(value))))
        elif isinstance(value, str) and value.strip():
            name = path[-1] if path else ""
            if name.endswith("_env") or (len(path) == 3 and path[0] == "providers" and name == "api_key"):
                continue  # names an environment variable; providers.<name>.api_key has its own error
            if _CREDENTIAL_NAME.match(name):
                found.append((".".join(path), _advice(path, f"'{name}' holds a credential")))
            elif has_credential(value) or _BEARER.match(value) or _URL_PASSWORD.search(value):
                found.append((".".join(path), _advice(path, "the value looks like a credential")))
    return found


def _advice(path: tuple[str, ...], what: str) -> str:
    where = "secrets must not be written in the file"
    if path and path[0] in _URL_ENV:
        return f"{what} (a password in the URL); {where}: set {_URL_ENV[path[0]]} in the environment instead"
    if path and path[0] == "providers":
        return (f"{what}; {where}: put the provider's key in an environment variable and name it "
                "with api_key_env (the adapter sends it in the header the provider expects)")
    return f"{what}; {where}: Corral reads secrets only from environment variables"
