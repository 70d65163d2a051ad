"""Microsoft Entra ID bearer tokens for Azure OpenAI (`auth: entra`), without the Azure SDK.

Why here and not azure-identity: that package is large and not a dependency of Corral, and the
common server case, a service principal with a client secret, is one form POST. So the sources
are, first match wins:

1. `token_env`: a token some other process keeps fresh in an environment variable;
2. client credentials from `tenant_id` / `client_id` / `client_secret_env` (defaults: the
   Azure-standard AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET), fetched from
   `{authority}/{tenant}/oauth2/v2.0/token` (authority: option `authority_host`, else
   AZURE_AUTHORITY_HOST, else login.microsoftonline.com; option `token_url` replaces the whole
   URL, for sovereign clouds and tests);
3. azure-identity's `DefaultAzureCredential` (managed identity, workload identity, az login),
   when that package is installed.

Fetched tokens are cached until `REFRESH_MARGIN_S` before they expire; one fetch at a time (a
burst of requests shares it). The adapter calls `invalidate` on a 401 and tries once more.
"""

from __future__ import annotations

import abc
import asyncio
import importlib
import os
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from corral.core.errors import UpstreamError
from corral.providers.base import ProviderConfig
from corral.providers.http import HttpClient, error_for_status, loads_or_bad

SCOPE = "https://cognitiveservices.azure.com/.default"
DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
REFRESH_MARGIN_S = 300.0  # refresh this long before expiry (Entra tokens live 60-90 min)
TOKEN_TIMEOUT_S = 30.0


class TokenSource(abc.ABC):
    """Where the bearer token comes from; `secrets` lists what error messages must never show."""

    def __init__(self) -> None:
        self.token = ""  # the last token handed out (scrubbed from errors)
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def get(self) -> str:
        """A token valid for at least REFRESH_MARGIN_S more, from the cache when it can be."""
        if self.token and time.monotonic() < self._expires_at:
            return self.token
        async with self._lock:
            if not self.token or time.monotonic() >= self._expires_at:
                token, lifetime_s = await self._fetch()
                self.fetches += 1
                self.token = token
                self._expires_at = time.monotonic() + max(0.0, lifetime_s - REFRESH_MARGIN_S)
        return self.token

    def invalidate(self, token: str) -> None:
        """Forget `token` (the upstream refused it): the next `get` fetches anew, unless a
        concurrent request has already replaced it (a burst of 401s costs one fetch)."""
        if token == self.token:
            self._expires_at = 0.0

    @property
    def refreshable(self) -> bool:
        """Whether fetching again can give a different token (worth a retry after a 401)."""
        return True

    def secrets(self) -> tuple[str, ...]:
        return (self.token,) if self.token else ()

    async def aclose(self) -> None:
        """Release connections or SDK sessions."""

    @abc.abstractmethod
    async def _fetch(self) -> tuple[str, float]:
        """A new (token, seconds it stays valid)."""


class EnvToken(TokenSource):
    """A token kept in an environment variable (read on every fetch, so a rotation is seen)."""

    def __init__(self, provider: str, env: str) -> None:
        super().__init__()
        self.provider, self.env = provider, env

    @property
    def refreshable(self) -> bool:
        return False

    async def _fetch(self) -> tuple[str, float]:
        token = os.environ.get(self.env, "").strip()
        if not token:
            raise UpstreamError(
                f"Provider '{self.provider}' has auth: entra with token_env {self.env}, but that "
                "environment variable is empty.",
                provider=self.provider,
            )
        return token, REFRESH_MARGIN_S + 60.0  # re-read the variable every minute


class ClientSecretToken(TokenSource):
    """OAuth 2.0 client credentials against Microsoft Entra ID's v2.0 token endpoint."""

    def __init__(self, config: ProviderConfig, token_url: str, client_id: str, secret: str,
                 scope: str = SCOPE) -> None:
        super().__init__()
        self.provider, self.token_url = config.name, token_url
        self.client_id, self._secret, self.scope = client_id, secret, scope
        # Its own pool and no configured headers: those are meant for Azure OpenAI, not the login host.
        self.http = HttpClient(ProviderConfig(
            name=config.name, type=config.type, connect_timeout_s=config.connect_timeout_s,
            read_timeout_s=min(config.read_timeout_s, TOKEN_TIMEOUT_S), max_connections=4,
        ))

    def secrets(self) -> tuple[str, ...]:
        return (*super().secrets(), self._secret)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _fetch(self) -> tuple[str, float]:
        form = urlencode({"grant_type": "client_credentials", "client_id": self.client_id,
                          "client_secret": self._secret, "scope": self.scope}).encode()
        headers = {"content-type": "application/x-www-form-urlencoded", "accept": "application/json"}
        status, data = await self.http.send("POST", self.token_url, form, headers)
        if status != 200:
            raise self._error(status, data)
        payload = loads_or_bad(data, self.provider)
        token = payload.get("access_token") if isinstance(payload, dict) else None
        if not isinstance(token, str) or not token:
            raise UpstreamError(f"Provider '{self.provider}': the Entra ID token endpoint answered "
                                "without an access_token.", provider=self.provider)
        return token, _seconds(payload.get("expires_in"), 3600.0)

    def _error(self, status: int, data: bytes) -> UpstreamError:
        try:
            body = loads_or_bad(data, self.provider)
            detail = str(body.get("error_description") or body.get("error") or "")
        except (UpstreamError, AttributeError):
            detail = data[:300].decode(errors="replace")
        detail = detail.splitlines()[0] if detail else "(empty body)"  # AAD appends trace ids
        if status == 429 or status >= 500:  # the login service is busy: worth a retry
            return error_for_status(self.provider, status, f"Entra ID token endpoint: {detail}", {})
        return UpstreamError(
            f"Provider '{self.provider}' could not get a Microsoft Entra ID token ({status}): {detail}. "
            "Check tenant_id, client_id and the client secret's environment variable.",
            provider=self.provider, upstream_status=status,
        )


class AzureIdentityToken(TokenSource):
    """azure-identity's DefaultAzureCredential (optional: `pip install azure-identity`)."""

    def __init__(self, credential: Any, scope: str = SCOPE) -> None:
        super().__init__()
        self.credential, self.scope = credential, scope

    async def _fetch(self) -> tuple[str, float]:
        access = await self.credential.get_token(self.scope)
        return access.token, float(access.expires_on) - time.time()

    async def aclose(self) -> None:
        await self.credential.close()


def _seconds(value: Any, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def token_source(config: ProviderConfig, environ: Mapping[str, str] | None = None) -> TokenSource:
    """The token source `config.options` asks for; ValueError when none can work."""
    env = os.environ if environ is None else environ
    options = config.options
    scope = str(options.get("scope") or SCOPE)
    if options.get("token_env"):
        return EnvToken(config.name, str(options["token_env"]))
    tenant = options.get("tenant_id") or env.get("AZURE_TENANT_ID")
    client_id = options.get("client_id") or env.get("AZURE_CLIENT_ID")
    secret = env.get(str(options.get("client_secret_env") or "AZURE_CLIENT_SECRET"))
    if client_id and secret and (tenant or options.get("token_url")):
        authority = str(options.get("authority_host") or env.get("AZURE_AUTHORITY_HOST")
                        or DEFAULT_AUTHORITY).rstrip("/")
        url = str(options.get("token_url") or f"{authority}/{tenant}/oauth2/v2.0/token")
        return ClientSecretToken(config, url, str(client_id), secret, scope)
    try:  # optional and large: not a dependency of Corral
        identity = importlib.import_module("azure.identity.aio")
    except ImportError:
        raise ValueError(
            f"provider '{config.name}' (type azure) has auth: entra but no credentials: set "
            "options.token_env, or AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (names "
            "overridable with options tenant_id, client_id, client_secret_env), or install "
            "azure-identity for managed identity and az login"
        ) from None
    return AzureIdentityToken(identity.DefaultAzureCredential(), scope)
