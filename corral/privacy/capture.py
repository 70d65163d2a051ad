"""One rule for content at rest, for every store (records, policy events, and what comes next).

Content (prompts, answers, excerpts of them) is kept only where the configuration allows it
(`observability.capture_content`) and only when a privacy policy handled the request, and
then only in the form the privacy stage produced: its redacted copy. Without a policy there is
no redacted copy to keep, so nothing is kept; a content-policy event on a route with no privacy
policy once stored a raw name, SSN and email this way.
"""

from __future__ import annotations

from corral.core.context import RequestContext, Work

PRIVATE_POLICIES = frozenset({"redact", "log-only", "block"})


def content_kept(ctx: RequestContext, capture_content: bool) -> bool:
    """Whether any content of this request may be stored."""
    return capture_content and ctx.privacy is not None and ctx.privacy.policy in PRIVATE_POLICIES


def stored_copy(ctx: RequestContext) -> Work:
    """The request as the privacy stage left it for storage: never the raw prompt."""
    return ctx.privacy.redacted if ctx.privacy is not None else ctx.request
