"""The banner's URLs are ones a person can paste: a wildcard bind address is not one."""

from __future__ import annotations

import pytest

from corral.banner import connect_url


@pytest.mark.parametrize(("host", "expected"), [
    ("0.0.0.0", "http://127.0.0.1:8080"), ("::", "http://127.0.0.1:8080"),
    ("127.0.0.1", "http://127.0.0.1:8080"), ("gateway.internal", "http://gateway.internal:8080"),
    ("::1", "http://[::1]:8080"),
])
def test_connect_url(host: str, expected: str) -> None:
    assert connect_url(host, 8080) == expected
