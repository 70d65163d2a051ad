"""LLM-specific observability: request records, write-behind sink, metrics, quality signals."""
