"""A small keep-alive HTTP/1.1 client for provider adapters (see corral.providers.http)."""
