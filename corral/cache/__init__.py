"""Response caching: an exact cache, the router's last-resort fallback and, on routes with
``cache.exact``, the answer to identical requests (corral.cache.serve)."""

from corral.cache.exact import ExactCache
from corral.cache.keys import cache_key, canonical_request
from corral.cache.stage import CacheStage

__all__ = ["CacheStage", "ExactCache", "cache_key", "canonical_request"]
