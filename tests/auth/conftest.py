"""Backend-parametrized fixtures shared with other store-backed test suites."""

from corral.store.testing import backend, db, db_url, kv, migrated_db  # noqa: F401
