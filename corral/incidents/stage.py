"""The input-rule stage: flag or block prompts that match a reviewer's rule, before the provider.

Placed outside the privacy stage (core.pipeline.STAGE_ORDER): rules match the client's own
text as sent, in memory only, so a rule can name a phrase whatever the redaction would turn it
into, and a blocked prompt costs no PII detection, no retrieval, and is never answered from
the cache. Nothing of the prompt is stored by this stage: the policy event it records names
the rule, not the text (the privacy stage has not run, so no redacted copy exists yet).

Only ``user`` messages are checked: they are the input the rules were derived from (policy
events keep the last user message); system prompts are the application's own.
"""

from __future__ import annotations

import logging
from collections import Counter

from corral.core.context import RequestContext
from corral.core.errors import InvalidRequest
from corral.core.pipeline import Next, Result
from corral.core.types import ChatRequest
from corral.governance.policy_events import PolicyEvent, PolicyEventRecorder
from corral.incidents.rules import MAX_SCAN_CHARS, RuleCache

log = logging.getLogger("corral.incidents")

BLOCKED = "input_rule_blocked"
FLAGGED = "input_rule_flagged"


class InputRuleBlocked(InvalidRequest):
    """A prompt matched a blocking input rule (400, code ``input_rule_blocked``)."""

    code = BLOCKED


def user_text(request: ChatRequest) -> str:
    text = "\n".join(m.text() for m in request.messages if m.role == "user")
    return text[:MAX_SCAN_CHARS]


class InputRuleStage:
    name = "input_rules"

    def __init__(self, cache: RuleCache, recorder: PolicyEventRecorder | None) -> None:
        self.cache = cache
        self.recorder = recorder
        self.counters: Counter[str] = Counter()  # flagged, blocked, timeouts

    async def __call__(self, ctx: RequestContext, call_next: Next) -> Result:
        rules = await self.cache.current()
        request = ctx.request
        if not rules or not isinstance(request, ChatRequest):
            return await call_next(ctx)
        route = ctx.public_model or request.model
        team = ctx.caller.team if ctx.caller else None
        text = user_text(request)
        folded = text.casefold()
        for compiled in rules:
            rule = compiled.rule
            if not rule.applies(route, team):
                continue
            try:
                hit = compiled.matches(text, folded)
            except TimeoutError:
                self.counters["timeouts"] += 1
                self.cache.timeouts[rule.id] += 1
                log.warning("input rule %s timed out on request %s: skipped", rule.id, ctx.request_id)
                continue
            if not hit:
                continue
            self.cache.hits[rule.id] += 1
            if rule.action == "block":
                self.counters["blocked"] += 1
                self._record(ctx, route, BLOCKED, rule.id)
                raise InputRuleBlocked(f"The prompt was blocked by input rule {rule.id}. Rephrase the "
                                       "request; if you think this is wrong, contact the gateway's operators "
                                       "and quote the x-request-id.", param="messages")
            self.counters["flagged"] += 1
            self._record(ctx, route, FLAGGED, rule.id)
        return await call_next(ctx)

    def _record(self, ctx: RequestContext, route: str, category: str, rule_id: str) -> None:
        if self.recorder is None:
            return
        caller = ctx.caller
        request = ctx.request
        event = PolicyEvent(
            request_id=ctx.request_id, route=route, category=category,
            message=f"{category.replace('_', ' ')} by {rule_id}",
            stream=bool(getattr(request, "stream", False)),
            key_id=caller.key_id if caller else None, team=caller.team if caller else None,
            provider="corral")
        self.recorder.record(event)
