"""Context-window helpers: token counting (`corral.context.tokens`) and what builds on it."""
