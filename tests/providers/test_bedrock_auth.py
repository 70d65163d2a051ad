"""SigV4: the gateway's signer (botocore) and the simulator's verifier (stdlib, written apart)
both reproduce AWS's published test-suite signatures, and agree with each other on a real
Converse request; plus the credential chain, API keys and region resolution."""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from botocore.credentials import ReadOnlyCredentials  # type: ignore[import-untyped]

from corral.core.errors import UpstreamError
from corral.providers import _bedrock_auth
from corral.providers._bedrock_auth import BedrockAuth, sign
from corral.simulator.bedrock_dialect import sigv4_signature

# AWS Signature Version 4 test suite (aws-sig-v4-test-suite, 2015-08-30): get-vanilla, post-vanilla.
AKID, SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SCOPE = "20150830/us-east-1/service/aws4_request"
VECTORS = [("GET", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
           ("POST", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b")]


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """No host credentials, files or metadata endpoints leak into these tests."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_BEARER_TOKEN_BEDROCK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    yield monkeypatch


@pytest.mark.parametrize(("method", "signature"), VECTORS)
def test_simulator_verifier_matches_the_aws_test_suite(method: str, signature: str) -> None:
    headers = {"host": "example.amazonaws.com", "x-amz-date": "20150830T123600Z"}
    got = sigv4_signature(SECRET, method, "/", "", headers, ["host", "x-amz-date"], b"",
                          "20150830T123600Z", SCOPE)
    assert got == signature


@pytest.mark.parametrize(("method", "signature"), VECTORS)
def test_gateway_signer_matches_the_aws_test_suite(method: str, signature: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.auth  # type: ignore[import-untyped]

    monkeypatch.setattr(botocore.auth, "get_current_datetime",
                        lambda *a, **k: datetime.datetime(2015, 8, 30, 12, 36, 0))
    creds = ReadOnlyCredentials(AKID, SECRET, None)
    headers = sign(creds, "us-east-1", method, "https://example.amazonaws.com/", b"", {}, service="service")
    assert headers["Authorization"] == (
        f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{SCOPE}, SignedHeaders=host;x-amz-date, "
        f"Signature={signature}")
    assert headers["X-Amz-Date"] == "20150830T123600Z"


def test_signer_and_verifier_agree_on_a_converse_request_with_a_session_token() -> None:
    url = "http://127.0.0.1:8123/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse"
    body = b'{"messages":[{"role":"user","content":[{"text":"hi"}]}]}'
    creds = ReadOnlyCredentials("ASIAEXAMPLE", "secret/with+chars", "session-token-value")
    headers = sign(creds, "eu-west-1", "POST", url, body, {"content-type": "application/json"})
    auth = re.fullmatch(r"AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/(\S+), SignedHeaders=(\S+), "
                        r"Signature=([0-9a-f]{64})", headers["Authorization"])
    assert auth is not None
    scope, signed, signature = auth.groups()
    assert scope.endswith("/eu-west-1/bedrock/aws4_request")
    assert signed == "content-type;host;x-amz-date;x-amz-security-token"
    assert headers["X-Amz-Security-Token"] == "session-token-value"
    parts = urlsplit(url)
    sent = {"host": parts.netloc, "content-type": "application/json",
            "x-amz-date": headers["X-Amz-Date"], "x-amz-security-token": "session-token-value"}
    expected = sigv4_signature("secret/with+chars", "POST", parts.path, "", sent, signed.split(";"), body,
                               headers["X-Amz-Date"], scope)
    assert signature == expected
    assert sigv4_signature("other", "POST", parts.path, "", sent, signed.split(";"), body,
                           headers["X-Amz-Date"], scope) != signature


async def test_credentials_from_environment_and_their_secrets(aws_env: pytest.MonkeyPatch) -> None:
    aws_env.setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
    aws_env.setenv("AWS_SECRET_ACCESS_KEY", "env-secret-1234567")
    aws_env.setenv("AWS_SESSION_TOKEN", "env-token-1234567")
    auth = BedrockAuth("br", "us-west-2")
    assert auth.mode == "sigv4" and auth.region == "us-west-2"
    headers = await auth.headers("POST", "https://bedrock-runtime.us-west-2.amazonaws.com/model/m/converse",
                                 b"{}", {"content-type": "application/json"})
    assert "Credential=AKIDENV/" in headers["Authorization"]
    assert {"env-secret-1234567", "env-token-1234567"} <= set(auth.secrets())


async def test_credentials_and_region_from_a_shared_profile(aws_env: pytest.MonkeyPatch,
                                                            tmp_path: Path) -> None:
    (tmp_path / "credentials").write_text(
        "[team]\naws_access_key_id = AKIDFILE\naws_secret_access_key = file-secret-123456\n")
    (tmp_path / "config").write_text("[profile team]\nregion = ap-southeast-2\n")
    auth = BedrockAuth("br", None, profile="team")
    assert auth.region == "ap-southeast-2"
    headers = await auth.headers("POST", "https://x.example/model/m/converse", b"{}", {})
    assert "Credential=AKIDFILE/" in headers["Authorization"]
    assert "/ap-southeast-2/bedrock/aws4_request" in headers["Authorization"]


async def test_api_key_is_a_bearer_token_and_needs_no_botocore(aws_env: pytest.MonkeyPatch) -> None:
    aws_env.setenv("AWS_BEARER_TOKEN_BEDROCK", "bedrock-api-key-abcdef123")
    aws_env.setenv("AWS_REGION", "us-east-1")
    aws_env.setattr(_bedrock_auth, "_botocore_session", None)  # calling it would fail the test
    auth = BedrockAuth("br", _bedrock_auth.region_from({}))
    assert auth.mode == "api_key" and auth.region == "us-east-1"
    headers = await auth.headers("POST", "https://x.example/", b"{}", {"a": "b"})
    assert headers == {"a": "b", "Authorization": "Bearer bedrock-api-key-abcdef123"}
    assert auth.secrets() == ("bedrock-api-key-abcdef123",)


async def test_missing_credentials_and_region_are_clear_errors(aws_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="no AWS region"):
        BedrockAuth("br", None)
    with pytest.raises(ValueError, match="api_key"):
        BedrockAuth("br", "us-east-1", mode="api_key")
    auth = BedrockAuth("br", "us-east-1")
    with pytest.raises(UpstreamError, match="found no AWS credentials"):
        await auth.headers("POST", "https://x.example/", b"", {})


def test_region_order(aws_env: pytest.MonkeyPatch) -> None:
    aws_env.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    assert _bedrock_auth.region_from({}) == "eu-central-1"
    aws_env.setenv("AWS_REGION", "eu-west-3")
    assert _bedrock_auth.region_from({}) == "eu-west-3"
    assert _bedrock_auth.region_from({"region": "us-east-2"}) == "us-east-2"
