"""Rate limits and spending budgets per key, team and route (the pipeline's "limits" stage)."""
