"""The system-prompt registry (docs/prompts.md): named prompts with immutable versions, owners
and labels; protected labels move only with a second owner's approval (the two-person rule).

- corral.prompts.registry: reads and audited changes (create, versions, labels, approvals)
- corral.prompts.resolve: ``name@label`` -> the exact version, cached for the request path
- corral.prompts.stage: the "prompts" lifecycle stage that sends it and records the version
- corral.prompts.cli: ``corral prompts ...``
"""
