"""Identifiers of responses and their items.

A response id shares its random part with the request id of the call that produced it
(`resp_X` <-> `req_X`), as a chat completion's does (`chatcmpl-X`), so the request record
of any response is found without a lookup table.
"""

from __future__ import annotations

import secrets

RESPONSE_PREFIX = "resp_"
REQUEST_PREFIX = "req_"


def response_id_for(request_id: str) -> str:
    """The id of the response that request `request_id` creates."""
    return RESPONSE_PREFIX + request_id.removeprefix(REQUEST_PREFIX)


def request_id_for(response_id: str) -> str:
    """The request id (and record) behind response `response_id`."""
    return REQUEST_PREFIX + response_id.removeprefix(RESPONSE_PREFIX)


def item_id(prefix: str) -> str:
    """A new item id: `msg_`, `fc_` (function call), `fco_` (function call output)."""
    return prefix + secrets.token_hex(12)
