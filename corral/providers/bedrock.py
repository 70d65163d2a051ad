"""Adapter for Amazon Bedrock's Converse API (`POST /model/{modelId}/converse`, and
`/converse-stream`, answered as AWS event-stream frames).

The translation lives in `_bedrock_wire` (pure functions), the event stream in
`_bedrock_stream`, the error mapping in `_bedrock_errors`, credentials and SigV4 in
`_bedrock_auth`; this module does the I/O.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import orjson

from corral.core.errors import CorralError, UpstreamBadResponse
from corral.core.types import ChatChunk, ChatRequest, ChatResponse
from corral.providers._bedrock_auth import BedrockAuth, region_from
from corral.providers._bedrock_errors import error_type, map_error
from corral.providers._bedrock_stream import EventStreamDecoder, StreamState, iter_body
from corral.providers._bedrock_wire import NATIVE_PARAMS, check_request, parse_response, request_body
from corral.providers.base import Capabilities, Provider, ProviderConfig
from corral.providers.http import HttpClient, loads_or_bad
from corral.providers.scrub import credentials_of, scrub_error

__all__ = ["BedrockProvider", "model_path", "register_providers"]

JSON = {"content-type": "application/json"}
STREAM_ACCEPT = "application/vnd.amazon.eventstream"


def model_path(model: str) -> str:
    """The model id (or inference-profile / provisioned ARN) as one percent-encoded path segment."""
    return quote(model, safe="")


class BedrockProvider(Provider):
    """Converse adapter. Options: `region`, `profile`, `auth` (auto | sigv4 | api_key),
    `default_max_tokens`. The endpoint is `https://bedrock-runtime.{region}.amazonaws.com`
    unless `base_url` says otherwise (a VPC endpoint, the simulator)."""

    capabilities = Capabilities(images=True, response_format=False)
    native_params = NATIVE_PARAMS

    def __init__(self, config: ProviderConfig):
        super().__init__(config)
        opts = config.options
        self.auth = BedrockAuth(config.name, region_from(opts), mode=str(opts.get("auth", "auto")),
                                api_key=config.api_key, profile=opts.get("profile"))
        default = f"https://bedrock-runtime.{self.auth.region}.amazonaws.com"
        self.base_url = (config.base_url or default).rstrip("/")
        max_tokens = opts.get("default_max_tokens")
        self.default_max_tokens = int(max_tokens) if max_tokens is not None else None
        self.http = HttpClient(config)

    def _scrub(self, exc: CorralError) -> None:
        """Also the AWS secret key, session token and Bedrock API key, none of which are in
        the config the base class scrubs with."""
        known = (*credentials_of(self.config.api_key, self.config.headers), *self.auth.secrets())
        scrub_error(exc, sorted(known, key=len, reverse=True))

    def check_supported(self, request: ChatRequest) -> None:
        """Base checks, plus seed, parallel_tool_calls=false and tool_choice none."""
        super().check_supported(request)
        check_request(request, where=f"provider '{self.name}' ({self.config.type})")

    async def _prepare(self, request: ChatRequest, action: str,
                       extra: dict[str, str]) -> tuple[str, dict[str, Any], dict[str, str]]:
        self.check_supported(request)
        body = request_body(request, default_max_tokens=self.default_max_tokens)
        url = f"{self.base_url}/model/{model_path(request.model)}/{action}"
        # Signed over the exact bytes HttpClient sends: it serializes the dict with orjson too.
        headers = await self.auth.headers("POST", url, orjson.dumps(body), {**JSON, **extra})
        return url, body, headers

    async def complete(self, request: ChatRequest) -> ChatResponse:
        url, body, headers = await self._prepare(request, "converse", {})
        status, resp_headers, data = await self.http.post_json(url, body, headers)
        if status != 200:
            raise map_error(self.name, status, resp_headers, data)
        return parse_response(loads_or_bad(data, self.name), self.name, model=request.model,
                              response_id=_request_id(resp_headers))

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        url, body, headers = await self._prepare(request, "converse-stream",
                                                 {"accept": STREAM_ACCEPT})
        async with self.http.stream(url, body, headers) as resp:
            if resp.status != 200:
                raise map_error(self.name, resp.status, dict(resp.headers), await resp.read())
            decoder = EventStreamDecoder(self.name)
            state = StreamState(self.name)
            async for data in iter_body(resp, self.name):
                for message in decoder.feed(data):
                    for chunk in self._event(state, message.headers, message.payload):
                        yield chunk
                if state.stopped and state.usage is not None:
                    break
            if decoder.pending and not state.stopped:
                raise UpstreamBadResponse(
                    f"Stream from provider '{self.name}' ended inside an event frame.",
                    provider=self.name,
                )
            if not state.stopped:
                raise UpstreamBadResponse(
                    f"Stream from provider '{self.name}' ended before messageStop; the answer is "
                    "incomplete.",
                    provider=self.name,
                )
            if state.usage is not None:
                yield ChatChunk(usage=state.usage)

    def _event(self, state: StreamState, headers: dict[str, Any], payload: bytes) -> list[ChatChunk]:
        kind = headers.get(":message-type")
        if kind == "exception":
            etype = str(headers.get(":exception-type") or "")
            raise map_error(self.name, None, {}, payload, error_type({"x-amzn-errortype": etype}, None))
        if kind == "error":  # the event-stream protocol's own errors carry no payload
            code = str(headers.get(":error-code") or "InternalServerException")
            message = str(headers.get(":error-message") or "(no message)")
            raise map_error(self.name, None, {}, {"message": message},
                            error_type({"x-amzn-errortype": code}, None))
        event = loads_or_bad(payload, self.name) if payload else {}
        if not isinstance(event, dict):
            return []
        return state.feed(str(headers.get(":event-type") or ""), event)

    async def aclose(self) -> None:
        await self.http.aclose()


def _request_id(headers: dict[str, str]) -> str:
    rid = next((v for k, v in headers.items() if k.lower() == "x-amzn-requestid"), "")
    return f"bedrock-{rid}" if rid else ""


def register_providers(register: Any) -> None:
    register("bedrock", BedrockProvider)

