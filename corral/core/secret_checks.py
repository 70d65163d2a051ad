"""Structural checks of credential formats: what a value must decode to or be made of.

Each takes the matched value and answers whether it has its format's structure (`secrets.py`
names the check per format). None raises: undecodable input is simply not that format.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Callable
from urllib.parse import unquote

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _b64(s: str, *, url: bool = False) -> bytes | None:
    """Padded-or-not base64 (standard or URL-safe) decoded, or None."""
    s = s.rstrip("=")
    try:
        raw = s + "=" * (-len(s) % 4)
        return base64.urlsafe_b64decode(raw) if url else base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return None


def base62_crc32_ok(token: str) -> bool:
    """GitHub's and npm's token checksum: the last 6 characters are the CRC32 of the random part
    (after the `xxx_` prefix), in base62 (0-9A-Za-z), zero-padded."""
    body, digits = token.split("_", 1)[1][:-6], token[-6:]
    n = zlib.crc32(body.encode())
    out = ""
    while n:
        n, r = divmod(n, 62)
        out = _B62[r] + out
    return out.rjust(6, "0") == digits


def base32_ok(key_id: str) -> bool:
    """The 16 characters after an AWS key id's prefix are base32 (A-Z, 2-7): no 0, 1, 8 or 9."""
    return not set(key_id[4:]) & set("0189")


def mixed(s: str) -> bool:
    """Random keys mix upper case, lower case and digits; words and identifiers rarely all three."""
    return any(c.isdigit() for c in s) and any(c.isupper() for c in s) and any(c.islower() for c in s)


def mixed_case(s: str) -> bool:
    return any(c.isupper() for c in s) and any(c.islower() for c in s)


def has_digit(s: str) -> bool:
    return any(c.isdigit() for c in s)


def jwt_ok(token: str) -> bool:
    """Three base64url parts; the header decodes to a JSON object naming its `alg`."""
    raw = _b64(token.split(".", 1)[0], url=True)
    try:
        header = json.loads(raw) if raw else None
    except ValueError:
        return False
    return isinstance(header, dict) and "alg" in header


def slack_ok(token: str) -> bool:
    """Dash-separated parts after the type prefix: a numeric id (team, user or app version)
    somewhere, and a final random part of 8+ characters."""
    parts = token.split("-")[1:]
    return len(parts) >= 2 and any(p.isdigit() for p in parts) and len(parts[-1]) >= 8


def pypi_ok(token: str) -> bool:
    """A PyPI macaroon: its first bytes decode to the location pypi.org (or test.pypi.org)."""
    raw = _b64(token[5:41], url=True)
    return raw is not None and b"pypi.org" in raw


def decodes_to(n: int) -> Callable[[str], bool]:
    """Base64 of exactly n bytes (Azure keys are 64- or 32-byte HMAC keys)."""

    def check(value: str) -> bool:
        raw = _b64(unquote(value))
        return raw is not None and len(raw) == n

    return check


def basic_auth_ok(value: str) -> bool:
    """RFC 7617: base64 of `user-id:password` in UTF-8."""
    raw = _b64(value)
    try:
        return raw is not None and ":" in raw.decode("utf-8")
    except UnicodeDecodeError:
        return False


def discord_ok(token: str) -> bool:
    """The first part is the bot's user id (a snowflake: decimal digits) in base64."""
    raw = _b64(token.split(".", 1)[0], url=True)
    return raw is not None and raw.isdigit()


def not_placeholder(value: str) -> bool:
    """`password`, `****`, `<password>`, `${DB_PASSWORD}` in documentation are not secrets."""
    v = value.strip("\"'")
    return (
        len(v) >= 4
        and v.lower() not in ("password", "passwd", "secret", "pass", "changeme", "example")
        and not set(v) <= set("*x.X")
        and not (v[0] in "<{$%[" or v.startswith("{{"))
    )


def entropy_ok(value: str) -> bool:
    return mixed(value) or (has_digit(value) and len(set(value)) >= 20)
