"""Credential formats: one entry per vendor format, with its pattern, structural check and source.

A prefix alone is near-certain for most vendors (`xoxb-`, `ghp_`, `AKIA`); where the format
carries more structure the check reads it (a JWT header that decodes to JSON naming its `alg`,
a PEM block whose END label repeats its BEGIN label, an Azure account key that decodes to 64
bytes, a PyPI macaroon naming pypi.org). Each pattern runs only on text that contains one of
its lowercase `anchors`, so a prompt without credentials costs one `lower()` and a few substring
searches. Every quantifier is bounded or possessive: linear on any input.

The table feeds the SECRET rule in `rules.py`; `docs/privacy-detection.md` prints it with the
sources. Spans it yields are SECRET, which suppression never drops (`entities.VALIDATED`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from corral.core.secret_checks import (
    base32_ok,
    base62_crc32_ok,
    basic_auth_ok,
    decodes_to,
    discord_ok,
    entropy_ok,
    has_digit,
    jwt_ok,
    mixed,
    mixed_case,
    not_placeholder,
    pypi_ok,
    slack_ok,
)


@dataclass(frozen=True, slots=True)
class SecretFormat:
    """One credential format. The `v` group, when the pattern has one, is the secret itself
    (the value after a keyword); otherwise the whole match is."""

    name: str
    anchors: tuple[str, ...]  # lowercase substrings; the pattern runs only when one is present
    pattern: re.Pattern[str]
    check: Callable[[str], bool] | None  # structural validation of the value, None: the regex is all
    source: str  # the vendor's documentation or the standard that defines the format
    # A checksum the format carries: spans that pass it score 1.0, others 0.95 (still reported).
    confirm: Callable[[str], bool] | None = None


# --- the table ----------------------------------------------------------------------------------

_WORD_START = r"(?<![\w-])"
_WORD_END = r"(?![\w-])"


def _rx(body: str, *, bounded: bool = True) -> re.Pattern[str]:
    return re.compile(f"{_WORD_START}{body}{_WORD_END}" if bounded else body)


# A keyword, an optional quote, `:`, `=` or `=>`, an optional quote: `AWS_SECRET_ACCESS_KEY="`.
_ASSIGN = r"[\"']?\s{0,4}+(?:[:=]|=>)?\s{0,4}+[\"']?"
_DB_SCHEMES = (
    r"(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?|mssql|sqlserver|oracle"
    r"|cockroachdb|clickhouse|snowflake|db2|jdbc:[a-z]{2,12})(?:\+[a-z0-9]{2,16})?"
)

FORMATS: tuple[SecretFormat, ...] = (
    SecretFormat(
        "AWS access key id", ("akia", "asia"), _rx(r"(?:AKIA|ASIA)[A-Z0-9]{16}"), None,
        "AWS IAM User Guide, 'IAM identifiers: unique ID prefixes' "
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-unique-ids",
        confirm=base32_ok,
    ),
    SecretFormat(
        "AWS secret access key (keyword)", ("secret",),
        re.compile(
            r"(?i:aws[_ .-]?secret(?:[_ .-]?access)?(?:[_ .-]?key)?|secret[_ .-]?access[_ .-]?key)"
            + _ASSIGN + r"(?P<v>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"
        ),
        entropy_ok,
        "AWS IAM User Guide, 'Manage access keys for IAM users' "
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html",
    ),
    SecretFormat(
        "AWS secret access key (next to a key id)", ("akia", "asia"),
        re.compile(
            r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])[^\n]{1,100}?"
            r"(?<![A-Za-z0-9/+=])(?P<v>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"
        ),
        entropy_ok,
        "AWS CLI User Guide, 'Configuration and credential file settings' "
        "https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-files.html",
    ),
    SecretFormat(
        "GitHub token (classic, OAuth, user-to-server, server-to-server, refresh)",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"), _rx(r"gh[pousr]_[A-Za-z0-9]{36,251}+"), None,
        "GitHub Docs, 'About authentication to GitHub: GitHub's token formats' "
        "https://docs.github.com/en/authentication/keeping-your-account-and-data-secure/"
        "about-authentication-to-github#githubs-token-formats; checksum: GitHub blog, 'Behind "
        "GitHub's new authentication token formats' (2021-04-05)",
        confirm=base62_crc32_ok,
    ),
    SecretFormat(
        "GitHub fine-grained personal access token", ("github_pat_",),
        _rx(r"github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59,200}+"), None,
        "GitHub Docs, 'About authentication to GitHub: GitHub's token formats' (github_pat_)",
    ),
    SecretFormat(
        "GitLab token",
        ("glpat-", "gldt-", "glrt-", "glptt-", "glft-", "glimt-", "glagent-", "gloas-", "glcbt-", "glsoat-"),
        _rx(
            r"(?:glpat|gldt|glrt|glptt|glft|glimt|glagent|gloas|glcbt|glsoat)-[A-Za-z0-9_-]{20,300}+"
            r"(?:\.[A-Za-z0-9_-]{1,64}+){0,3}"
        ),
        None,
        "GitLab Docs, 'GitLab token overview: token prefixes' https://docs.gitlab.com/security/tokens/",
    ),
    SecretFormat(
        "Slack token (bot, user, app, refresh, config)", ("xox", "xapp-"),
        re.compile(
            r"(?<![\w.-])(?:xoxe\.)?(?:xox[abposre]|xapp)-[A-Za-z0-9-]{10,250}+(?![\w-])"
        ),
        slack_ok,
        "Slack API, 'Token types' https://api.slack.com/concepts/token-types",
    ),
    SecretFormat(
        "Slack incoming webhook URL", ("hooks.slack.com",),
        re.compile(
            r"(?:https?://)?hooks\.slack\.com/(?:services|workflows|triggers)/T[A-Z0-9]{6,12}+"
            r"/[A-Za-z0-9/]{16,160}+"
        ),
        lambda url: len(url.rsplit("/", 1)[-1]) >= 16,
        "Slack API, 'Sending messages using incoming webhooks' https://api.slack.com/messaging/webhooks",
    ),
    SecretFormat(
        "Stripe secret or restricted key, webhook secret",
        ("sk_live_", "rk_live_", "sk_test_", "rk_test_", "whsec_"),
        _rx(r"(?:(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{20,247}+|whsec_[A-Za-z0-9+/=]{32,128}+)"), None,
        "Stripe Docs, 'API keys' https://docs.stripe.com/keys; 'Webhooks: verify signatures' "
        "https://docs.stripe.com/webhooks#verify-events",
    ),
    SecretFormat(
        "Twilio account SID, API key SID", ("ac", "sk"), _rx(r"(?:AC|SK)[0-9a-f]{32}"), None,
        "Twilio Docs, 'API keys overview' https://www.twilio.com/docs/iam/api-keys; "
        "'Auth tokens' https://www.twilio.com/docs/iam/access-tokens",
    ),
    SecretFormat(
        "SendGrid API key", ("sg.",), _rx(r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}"), None,
        "Twilio SendGrid Docs, 'API keys' "
        "https://www.twilio.com/docs/sendgrid/ui/account-and-settings/api-keys",
    ),
    SecretFormat(
        "npm access token", ("npm_",), _rx(r"npm_[A-Za-z0-9]{36}"), has_digit,
        "npm Docs, 'About access tokens' https://docs.npmjs.com/about-access-tokens; GitHub blog, "
        "'Announcing npm's new access token format' (2021-09-23)",
        confirm=base62_crc32_ok,
    ),
    SecretFormat(
        "PyPI API token", ("pypi-age",), _rx(r"pypi-AgE[A-Za-z0-9_-]{50,4000}+"), pypi_ok,
        "PyPI Help, 'How can I use API tokens to authenticate with PyPI?' https://pypi.org/help/#apitoken",
    ),
    SecretFormat(
        "Anthropic API key", ("sk-ant-",), _rx(r"sk-ant-[a-z]{3,5}\d{2}-[A-Za-z0-9_-]{32,250}+"), None,
        "Anthropic Docs, 'API overview: authentication' https://docs.anthropic.com/en/api/overview",
    ),
    SecretFormat(
        "OpenAI API key (user, project, service account, admin)", ("sk-",),
        _rx(r"sk-(?!ant-)(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,250}+"), mixed,
        "OpenAI API reference, 'Authentication' https://platform.openai.com/docs/api-reference/authentication",
    ),
    SecretFormat(
        "Hugging Face access token", ("hf_", "api_org_"),
        _rx(r"(?:hf|api_org)_[A-Za-z0-9]{30,40}"), mixed_case,
        "Hugging Face Hub docs, 'User access tokens' https://huggingface.co/docs/hub/security-tokens",
    ),
    SecretFormat(
        "JSON Web Token", ("eyj",),
        _rx(r"eyJ[A-Za-z0-9_-]{8,1024}+\.[A-Za-z0-9_-]{8,4096}+\.[A-Za-z0-9_-]{0,1024}+"), jwt_ok,
        "RFC 7519 'JSON Web Token' section 3; RFC 7515 'JWS' section 7.1 (compact serialization)",
    ),
    SecretFormat(
        "Google API key", ("aiza",), _rx(r"AIza[0-9A-Za-z_-]{35}"), None,
        "Google Cloud docs, 'Manage API keys' https://cloud.google.com/docs/authentication/api-keys",
    ),
    SecretFormat(
        "Google OAuth client secret, access token", ("gocspx-", "ya29."),
        _rx(r"(?:GOCSPX-[A-Za-z0-9_-]{28}|ya29\.[A-Za-z0-9_-]{20,2048}+)"), None,
        "Google Identity, 'Using OAuth 2.0 to access Google APIs' "
        "https://developers.google.com/identity/protocols/oauth2",
    ),
    SecretFormat(
        "GCP service-account key id", ("private_key_id",),
        re.compile(r"\"private_key_id\"\s{0,4}+:\s{0,4}+\"(?P<v>[0-9a-f]{40})\""), None,
        "Google Cloud IAM docs, 'Create and delete service account keys' (JSON key file) "
        "https://cloud.google.com/iam/docs/keys-create-delete",
    ),
    SecretFormat(
        "Azure storage account key", ("accountkey",),
        re.compile(r"(?i:AccountKey)\s{0,4}+=\s{0,4}+(?P<v>[A-Za-z0-9+/]{86}==)"), decodes_to(64),
        "Microsoft Learn, 'Configure Azure Storage connection strings' "
        "https://learn.microsoft.com/azure/storage/common/storage-configure-connection-string",
    ),
    SecretFormat(
        "Azure shared access key (Service Bus, Event Hubs, IoT Hub)", ("sharedaccesskey",),
        re.compile(r"(?i:SharedAccessKey)\s{0,4}+=\s{0,4}+(?P<v>[A-Za-z0-9+/]{43}=)"), decodes_to(32),
        "Microsoft Learn, 'Service Bus access control with Shared Access Signatures' "
        "https://learn.microsoft.com/azure/service-bus-messaging/service-bus-sas",
    ),
    SecretFormat(
        "Azure SAS token signature", ("sig=",),
        re.compile(r"[?&;](?i:sig)=(?P<v>(?:[A-Za-z0-9+/]|%2[BbFf]){43,100}+(?:=|%3[Dd]){1,2})"),
        decodes_to(32),
        "Microsoft Learn, 'Create a service SAS: signature' "
        "https://learn.microsoft.com/rest/api/storageservices/create-service-sas",
    ),
    SecretFormat(
        "Database URL with a password", ("://",),
        re.compile(
            r"(?i:\b" + _DB_SCHEMES + r")://[^\s:/@]{0,128}+:(?P<v>[^\s/@]{1,256}+)@[\w.-]{1,253}+"
        ),
        not_placeholder,
        "RFC 3986 section 3.2.1 (userinfo); PostgreSQL docs 'Connection URIs' "
        "https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING-URIS; MongoDB "
        "'Connection string' https://www.mongodb.com/docs/manual/reference/connection-string/",
    ),
    SecretFormat(
        "Database connection string with a password (ADO.NET, ODBC)", ("password=", "pwd="),
        re.compile(
            r"(?i:\b(?:server|data source|host|uid|user id|database|initial catalog|driver))\s{0,4}+="
            r"[^;\r\n]{1,256}+;(?:[^;\r\n]{0,256}+;){0,8}?\s{0,4}+(?i:password|pwd)\s{0,4}+=\s{0,4}+"
            r"(?P<v>[^;\r\n'\"]{1,128}+)"
        ),
        not_placeholder,
        "Microsoft Learn, 'Connection string syntax' "
        "https://learn.microsoft.com/dotnet/framework/data/adonet/connection-string-syntax",
    ),
    SecretFormat(
        "HTTP Basic authorization header", ("basic",),
        re.compile(
            r"(?i:(?:proxy-)?authorization)" + _ASSIGN
            + r"(?i:basic)\s{1,4}+(?P<v>[A-Za-z0-9+/]{4,1024}+={0,2})"
        ),
        basic_auth_ok,
        "RFC 7617 'The Basic HTTP Authentication Scheme' section 2",
    ),
    SecretFormat(
        "HTTP Bearer authorization header", ("bearer",),
        re.compile(
            r"(?i:(?:proxy-)?authorization)" + _ASSIGN
            + r"(?i:bearer)\s{1,4}+(?P<v>[A-Za-z0-9._~+/-]{16,4096}+=*)"
        ),
        has_digit,
        "RFC 6750 'OAuth 2.0 Bearer Token Usage' section 2.1",
    ),
    SecretFormat(
        "Mailchimp API key", ("-us",), _rx(r"[0-9a-f]{32}-us\d{1,2}"), None,
        "Mailchimp Developer, 'About API keys' https://mailchimp.com/developer/marketing/guides/quick-start/",
    ),
    SecretFormat(
        "Telegram bot token", (":",), _rx(r"\d{8,10}:AA[A-Za-z0-9_-]{33}"), None,
        "Telegram Bot API, 'Authorizing your bot' https://core.telegram.org/bots/api#authorizing-your-bot",
    ),
    SecretFormat(
        "Discord bot token", (".",),
        _rx(r"[MNO][A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,38}"),
        discord_ok,
        "Discord Developer docs, 'Authentication: bot token' https://discord.com/developers/docs/reference#authentication",
    ),
    SecretFormat(
        "Square access token, OAuth secret", ("sq0atp-", "sq0csp-", "eaaa"),
        _rx(r"(?:sq0atp-[A-Za-z0-9_-]{22}|sq0csp-[A-Za-z0-9_-]{43}|EAAA[A-Za-z0-9_-]{60})"), has_digit,
        "Square Developer, 'Access tokens' https://developer.squareup.com/docs/build-basics/access-tokens",
    ),
    SecretFormat(
        "Shopify access token, shared secret", ("shpat_", "shpca_", "shppa_", "shpss_"),
        _rx(r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}"), None,
        "Shopify Dev docs, 'Access tokens' https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens",
    ),
    SecretFormat(
        "DigitalOcean token", ("dop_v1_", "doo_v1_", "dor_v1_"), _rx(r"do[opr]_v1_[a-f0-9]{64}"), None,
        "DigitalOcean Docs, 'How to create a personal access token' "
        "https://docs.digitalocean.com/reference/api/create-personal-access-token/",
    ),
)  # fmt: skip

# PEM (RFC 7468: PKCS #1, SEC 1, PKCS #8 plain and encrypted), OpenSSH and OpenPGP private keys.
# The body may hold RFC 1421 headers ("Proc-Type: 4,ENCRYPTED") but never "-----": it is taken
# atomically up to the next run of five dashes, so each BEGIN line costs its own body, no more.
# The END line must repeat the BEGIN label (the structural check, by back-reference).
PRIVATE_KEY = re.compile(
    r"-----BEGIN ((?:[A-Z0-9]{1,12} ){0,2})PRIVATE KEY((?: BLOCK)?)-----(?>(?:[^-]|-(?!----)){16,8192})"
    r"-----END \1PRIVATE KEY\2-----"
)
PRIVATE_KEY_SOURCE = (
    "RFC 7468 'Textual Encodings of PKIX, PKCS, and CMS Structures' sections 10-11; RFC 4880 "
    "section 6.2 (OpenPGP armor); OpenSSH PROTOCOL.key; GCP service-account JSON `private_key`"
)


def _value_group(pattern: re.Pattern[str]) -> int | str:
    return "v" if "v" in pattern.groupindex else 0


_COMPILED = tuple((f, _value_group(f.pattern)) for f in FORMATS)


def find_credentials(text: str) -> Iterator[tuple[int, int, float, str]]:
    """(start, end, score, format name) of every credential in the table, in table order;
    spans of different formats may overlap (the caller keeps the first)."""
    lowered = text.lower()
    for fmt, group in _COMPILED:
        if not any(a in lowered for a in fmt.anchors):
            continue
        for m in fmt.pattern.finditer(text):
            value = m.group(group)
            if fmt.check is None or fmt.check(value):
                score = 1.0 if fmt.confirm is None or fmt.confirm(value) else 0.95
                yield m.start(group), m.end(group), score, fmt.name


def find_private_key_blocks(text: str) -> Iterator[tuple[int, int]]:
    """PEM/OpenSSH/PGP private keys (up to 8 KB, longer than a detection window): each match
    starts at a BEGIN line found by `str.find` and stops at the next five dashes, so no call
    scans beyond one block."""
    pos = text.find("-----BEGIN ")
    while pos >= 0:
        m = PRIVATE_KEY.match(text, pos)
        if m is not None:
            yield m.span()
        pos = text.find("-----BEGIN ", m.end() if m is not None else pos + 1)
