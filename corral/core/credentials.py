"""Credential shapes shared by detection, error scrubbing and the configuration check.

Vendor keys and tokens (the table of corral.core.secrets: ``sk-``, ``AKIA``, ``ghp_``, ``xoxb-``,
JWTs, database URLs with passwords, private keys...). Three places must agree on them: PII
detection reports them as SECRET (`privacy/detect/rules.py`), provider errors have them
scrubbed before a client sees them (`providers/scrub.py`), and `corral.yaml` is refused when it
holds one (`config_secrets.py`). They live here, in `core`, because providers and configuration
sit below the privacy stage and must not import it.
"""

from __future__ import annotations

import re

from corral.core.secrets import find_credentials, find_private_key_blocks

# A token with a known vendor prefix, as a whole word, whatever its body looks like. Broader than
# the table's checks (which skip all-lowercase example tokens for precision in detection): a
# provider's error text and a configuration value are not prose, so here a lookalike is masked too.
SECRET_PREFIXED = re.compile(
    r"(?<![\w-])(?:"
    r"(?:AKIA|ASIA)[0-9A-Z]{16}"  # AWS access key id
    r"|gh[pousr]_[A-Za-z0-9]{36,255}+|github_pat_[A-Za-z0-9_]{60,255}+"  # GitHub
    r"|sk-(?:ant-|proj-|svcacct-)?[A-Za-z0-9_-]{20,512}+"  # OpenAI, Anthropic
    r"|(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,512}+"  # Stripe
    r"|xox[abposr]-[A-Za-z0-9-]{10,512}+"  # Slack
    r"|AIza[0-9A-Za-z_-]{35}"  # Google API key
    r"|glpat-[A-Za-z0-9_-]{20,512}+"  # GitLab
    r"|eyJ[A-Za-z0-9_-]{8,1024}+\.eyJ[A-Za-z0-9_-]{8,2048}+\.[A-Za-z0-9_-]{8,1024}+"  # JWT
    r")(?![\w-])"
)


def credential_spans(text: str) -> list[tuple[int, int]]:
    """Non-overlapping (start, end) of every credential the table finds, every prefixed token,
    and private-key blocks, in text order (the first of overlapping spans wins)."""
    found = sorted([(start, end) for start, end, _, _ in find_credentials(text)]
                   + [m.span() for m in SECRET_PREFIXED.finditer(text)]
                   + list(find_private_key_blocks(text)))
    spans: list[tuple[int, int]] = []
    for start, end in found:
        if not spans or start >= spans[-1][1]:
            spans.append((start, end))
    return spans


def has_credential(text: str) -> bool:
    return bool(credential_spans(text))


def mask_credentials(text: str, replacement: str) -> str:
    """``text`` with every credential replaced by ``replacement``."""
    spans = credential_spans(text)
    if not spans:
        return text
    out, last = [], 0
    for start, end in spans:
        out += [text[last:start], replacement]
        last = end
    out.append(text[last:])
    return "".join(out)
