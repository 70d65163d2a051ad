"""Credential shapes shared by detection, error scrubbing and the configuration check.

Vendor keys and tokens carry recognisable prefixes (``sk-``, ``AKIA``, ``ghp_``, a JWT's
``eyJ``...). Three places must agree on them: PII detection reports them as SECRET
(`privacy/detect/rules.py`), provider errors have them scrubbed before a client sees them
(`providers/scrub.py`), and `corral.yaml` is refused when it holds one
(`config_secrets.py`). They live here, in `core`, because providers and configuration sit
below the privacy stage and must not import it.
"""

from __future__ import annotations

import re

# A token with a known vendor prefix, as a whole word.
SECRET_PREFIXED = re.compile(
    r"(?<![\w-])(?:"
    r"(?:AKIA|ASIA)[0-9A-Z]{16}"  # AWS access key id
    r"|gh[pousr]_[A-Za-z0-9]{36,255}+|github_pat_[A-Za-z0-9_]{60,255}+"  # GitHub
    r"|sk-(?:ant-|proj-|svcacct-)?[A-Za-z0-9_-]{20,512}+"  # OpenAI, Anthropic
    r"|(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,512}+"  # Stripe
    r"|xox[abposr]-[A-Za-z0-9-]{10,512}+"  # Slack
    r"|AIza[0-9A-Za-z_-]{35}"  # Google API key
    r"|glpat-[A-Za-z0-9_-]{20,512}+"  # GitLab
    r"|eyJ[A-Za-z0-9_-]{8,1024}+\.eyJ[A-Za-z0-9_-]{8,2048}+\.[A-Za-z0-9_-]{8,1024}+"  # JWT
    r")(?![\w-])"
)
