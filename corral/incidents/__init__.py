"""Incident review and escalation (docs/incidents.md).

Reports (``POST /v1/feedback`` with a ``category``) and content-policy events open incidents;
reviewers triage them through ``/admin/incidents``; high-severity ones go to the escalation
webhook through the durable job queue; input rules turn a pattern of rejected prompts into a
check before the provider call. Nothing is re-exported: ``corral.incidents.settings`` is read
by the configuration and must not load the store.
"""
