"""A fixed corpus of personal data and credentials for the leak test, and the scanner that looks
for any of them in what an upstream received.

Every value is made up with a valid structure (Luhn, IBAN mod 97, SSN area rules, credential
prefixes and lengths); none is a real person's data or a live secret. Each is one the detector
finds in the sentence `PROMPT` puts it in (checked in tests/integration/test_leak.py). Values
the detector misses in context are detection gaps for issue 14 and stay out of the asserted set:
they are listed in `UNDETECTED` with the reason.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus, unquote_plus

# name -> (value, the sentence it travels in)
CORPUS: dict[str, tuple[str, str]] = {
    "person": ("Margaret Thornbury", "My name is {}"),
    "email": ("margaret.thornbury@example.com", "my email is {}"),
    "phone": ("+1 415 555 2671", "call me on {}"),
    "address": ("742 Evergreen Terrace, Springfield, OR 97477", "I live at {}"),
    "card": ("4539 1488 0343 6467", "my card number is {}"),
    "iban": ("GB82 WEST 1234 5698 7654 32", "my IBAN is {}"),
    "ssn": ("536-22-8736", "my SSN is {}"),
    "ip": ("81.2.69.160", "client ip: {}"),
    "aws_key_id": ("AKIAZ7Q3MLX2RB4WTN6P", "AWS access key id: {}"),
    "github_token": ("ghp_R7x2Kq9LmN4pV8sT1wY6zB3cD5fG0hJ2kL4m", "GitHub token: {}"),
    "slack_bot_token": ("xoxb-2718281828-3141592653589-aZ7kQ2mN9pL4xR8tW1vB6cD3", "Slack bot token: {}"),
    "jwt": ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0"
            "IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c", "Session JWT: {}"),
    "database_url": ("postgresql://app_admin:Tr0ub4dor-Horse-77@db.internal.example.com:5432/payroll",
                     "DATABASE_URL={}"),
    "openai_key": ("sk-proj-Qm3kX9vL2pR7sT4wY8zB1cD6fG0hJ5kN3mP9qR2sT7uV4wX8", "OPENAI_API_KEY={}"),
}

# Values the detector misses in context (a gap for issue 14, not asserted here), with the reason.
UNDETECTED: dict[str, tuple[str, str]] = {
    "ip_documentation_range": ("203.0.113.77", "RFC 5737 documentation addresses are not reported "
                                               "(\"The server IP is 203.0.113.77.\" finds nothing)"),
    "person_underscored": ("Margaret_Thornbury", "a name joined by an underscore (a message's `name`, a "
                                                 "user id) is not a PERSON (\"user Margaret_Thornbury "
                                                 "logged in\" finds nothing)"),
}

PROMPT = ". ".join(sentence.format(value) for value, sentence in CORPUS.values()) + "."

# What must never reach an upstream: each value, its compact forms, and the secret parts of
# values the detector reports only in part (a connection string's credentials; its host and
# database name are not personal data).
_ALSO = {
    "card": ["4539148803436467"], "iban": ["GB82WEST12345698765432"], "ssn": ["536228736"],
    "phone": ["14155552671", "4155552671"],
    "database_url": ["app_admin:Tr0ub4dor-Horse-77", "Tr0ub4dor-Horse-77"],
}
SECRET_VALUES: dict[str, str] = {
    **{name: value for name, (value, _) in CORPUS.items() if name != "database_url"},
    **{f"{name}~{i}": v for name, forms in _ALSO.items() for i, v in enumerate(forms)},
}

# Any 16 characters of a credential's secret part are a leak too (a chunk or a stream piece can
# carry a fragment the detector cannot recognise as a credential); a JWT's header is public.
FRAGMENT = 16
_CREDENTIALS = {
    "aws_key_id": CORPUS["aws_key_id"][0], "github_token": CORPUS["github_token"][0],
    "slack_bot_token": CORPUS["slack_bot_token"][0], "openai_key": CORPUS["openai_key"][0],
    "jwt": CORPUS["jwt"][0].split(".", 1)[1], "database_url": "Tr0ub4dor-Horse-77",
}
FRAGMENTS: dict[str, str] = {
    f"{name}[{i}:{i + FRAGMENT}]": secret[i:i + FRAGMENT]
    for name, secret in _CREDENTIALS.items() for i in range(len(secret) - FRAGMENT + 1)
} | {"person~surname": "Thornbury", "address~street": "Evergreen Terrace"}

_B64_TOKEN = re.compile(rb"[A-Za-z0-9+/_-]{12,}={0,2}")
_U_ESCAPE = re.compile(rb"\\u([0-9a-fA-F]{4})")


def _b64_decodings(blob: bytes) -> Iterable[bytes]:
    """Every base64-looking token of `blob`, decoded (standard and URL-safe alphabets, any
    alignment a value embedded in a longer text could have)."""
    for token in _B64_TOKEN.findall(blob):
        bare = token.rstrip(b"=")
        for start in range(4):
            part = bare[start:]
            part = part[: len(part) - len(part) % 4] if len(part) % 4 == 1 else part
            padded = part + b"=" * (-len(part) % 4)
            for decode in (base64.b64decode, base64.urlsafe_b64decode):
                try:
                    yield decode(padded)
                except (binascii.Error, ValueError):
                    pass


def views(blob: bytes) -> list[bytes]:
    """`blob` as an upstream could read it: raw, JSON-unescaped, URL-decoded, base64-decoded."""
    unescaped = _U_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)).encode("utf-8", "surrogatepass"), blob)
    url_decoded = unquote_plus(blob.decode("latin-1")).encode("latin-1", "replace")
    out = [blob, unescaped, url_decoded]
    out += list(_b64_decodings(blob)) + list(_b64_decodings(url_decoded))
    return out


def encodings(value: str) -> dict[str, bytes]:
    """`value` as it could be written into a request by something that encodes it."""
    raw = value.encode()
    return {
        "raw": raw,
        "json": json.dumps(value)[1:-1].encode(),
        "json-ascii": "".join(f"\\u{ord(c):04x}" for c in value).encode(),
        "url": quote(value, safe="").encode(),
        "url-plus": quote_plus(value).encode(),
        "base64": base64.b64encode(raw).rstrip(b"="),
        "base64url": base64.urlsafe_b64encode(raw).rstrip(b"="),
    }


def find_leaks(blob: bytes, where: str) -> list[str]:
    """Each corpus value found in `blob` (any view, any encoding, any case), as "name (encoding) in
    where"."""
    lowered = [v.lower() for v in views(blob)]
    found = []
    for name, value in SECRET_VALUES.items():
        for encoding, form in encodings(value).items():
            if any(form.lower() in view for view in lowered):
                found.append(f"{name} ({encoding}) in {where}")
                break
    fragments: dict[str, str] = {}  # the first fragment found of each value
    for name, fragment in FRAGMENTS.items():
        if any(fragment.lower().encode() in view for view in lowered[:3]):
            fragments.setdefault(name.split("[")[0], f"{name} (fragment {fragment!r}) in {where}")
    return found + list(fragments.values())
