"""Response caching: an exact cache, used for now as the router's last-resort fallback."""

from corral.cache.exact import ExactCache
from corral.cache.keys import cache_key, canonical_request
from corral.cache.stage import CacheStage

__all__ = ["CacheStage", "ExactCache", "cache_key", "canonical_request"]
