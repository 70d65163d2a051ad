"""Credentials and request signing for Bedrock: SigV4 through botocore, or a Bedrock API key.

Why botocore: the standard AWS credential chain (environment, shared credentials and config
files with profiles, SSO, assume-role, web identity, container and instance metadata) and
refreshing temporary credentials are long tails best left to AWS's own code. It is imported
only when a `bedrock` provider signs with SigV4 (about 0.25-0.35 s once, measured on 2 shared
cores; docs/licences.md), so deployments without Bedrock never load it.

Resolving credentials may block (metadata endpoints, SSO token files), so it runs in a
thread, once, and again only when botocore says temporary credentials need refreshing.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from corral.core.errors import UpstreamError

SERVICE = "bedrock"
BEARER_ENV = "AWS_BEARER_TOKEN_BEDROCK"
AUTH_MODES = ("auto", "sigv4", "api_key")


def region_from(options: dict[str, Any]) -> str | None:
    """`options.region`, else AWS_REGION, else AWS_DEFAULT_REGION (the SDKs' order)."""
    value = options.get("region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    return str(value) if value else None


class BedrockAuth:
    """Adds `Authorization` (and SigV4's `X-Amz-Date` / `X-Amz-Security-Token`) to a request."""

    def __init__(self, provider: str, region: str | None, *, mode: str = "auto",
                 api_key: str | None = None, profile: str | None = None) -> None:
        if mode not in AUTH_MODES:
            raise ValueError(f"provider '{provider}': options.auth must be one of {', '.join(AUTH_MODES)}")
        self.provider = provider
        self.token = api_key or os.environ.get(BEARER_ENV) or None
        if mode == "api_key" and not self.token:
            raise ValueError(
                f"provider '{provider}': options.auth is api_key but no key is set; name its "
                f"environment variable with api_key_env or set {BEARER_ENV}"
            )
        self.mode = "api_key" if mode == "api_key" or (mode == "auto" and self.token) else "sigv4"
        self.profile = profile
        self._session: Any = None
        self._credentials: Any = None
        self._frozen: Any = None
        self._lock = asyncio.Lock()
        if self.mode == "sigv4":
            self._session = _botocore_session(profile)
            region = region or self._session.get_config_variable("region")
        if not region:
            raise ValueError(
                f"provider '{provider}': no AWS region; set options.region, AWS_REGION or a "
                "profile's region"
            )
        self.region = str(region)

    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in an error message (base.Provider scrubs them)."""
        found = [self.token] if self.token else []
        frozen = self._frozen
        if frozen is not None:
            found += [v for v in (frozen.secret_key, frozen.token, frozen.access_key) if v]
        return tuple(found)

    async def headers(self, method: str, url: str, body: bytes,
                      headers: dict[str, str]) -> dict[str, str]:
        """`headers` plus the authentication for this exact method, URL and body."""
        if self.mode == "api_key":
            return {**headers, "Authorization": f"Bearer {self.token}"}
        frozen = await self._current()
        return sign(frozen, self.region, method, url, body, headers)

    async def _current(self) -> Any:
        """Frozen credentials, resolved (and refreshed) off the event loop."""
        creds = self._credentials
        if creds is not None and not _refresh_needed(creds):
            self._frozen = creds.get_frozen_credentials()
            return self._frozen
        async with self._lock:
            if self._credentials is None:
                self._credentials = await asyncio.to_thread(self._session.get_credentials)
            if self._credentials is None:
                raise UpstreamError(
                    f"Provider '{self.provider}' found no AWS credentials: set AWS_ACCESS_KEY_ID and "
                    "AWS_SECRET_ACCESS_KEY, a profile (options.profile or AWS_PROFILE), run on a role "
                    f"with instance or container credentials, or set {BEARER_ENV}.",
                    provider=self.provider,
                )
            self._frozen = await asyncio.to_thread(self._credentials.get_frozen_credentials)
            return self._frozen


def _refresh_needed(creds: Any) -> bool:
    check = getattr(creds, "refresh_needed", None)  # RefreshableCredentials only
    return bool(check()) if callable(check) else False


def _botocore_session(profile: str | None) -> Any:
    import botocore.session  # type: ignore[import-untyped]  # lazy: only SigV4 providers pay for it

    session = botocore.session.get_session()
    if profile:
        session.set_config_variable("profile", profile)
    return session


def sign(credentials: Any, region: str, method: str, url: str, body: bytes,
         headers: dict[str, str], service: str = SERVICE) -> dict[str, str]:
    """SigV4 (service `bedrock`) over method, URL, `headers` and body, as botocore signs it.

    The URL must already be percent-encoded as sent (a model id's ':' as %3A); SigV4 encodes
    the path once more for its canonical form, as AWS expects for every service but S3.
    """
    from botocore.auth import SigV4Auth  # type: ignore[import-untyped]
    from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]

    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    SigV4Auth(credentials, service, region).add_auth(request)
    return {str(k): str(v) for k, v in request.headers.items()}
