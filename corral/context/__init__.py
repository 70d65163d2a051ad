"""Context-window helpers: token counting (`corral.core.tokens`) and what builds on it."""
