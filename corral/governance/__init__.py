"""Governance: content-policy events recorded for review, the data map, the audit log, erasure
and retention. Modules are imported by name: `corral.config` imports `corral.governance.settings`,
so this package imports nothing itself (no store, no stage, no cycle back to the config)."""
