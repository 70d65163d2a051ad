"""Governance: content-policy events (provider refusals) recorded for operator review."""

from corral.governance.policy_events import (
    PolicyEvent,
    PolicyEventRecorder,
    PolicyEventStore,
    prompt_excerpt,
)
from corral.governance.stage import ContentPolicyStage

__all__ = [
    "ContentPolicyStage",
    "PolicyEvent",
    "PolicyEventRecorder",
    "PolicyEventStore",
    "prompt_excerpt",
]
