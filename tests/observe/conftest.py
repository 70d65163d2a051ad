"""Backend-parametrized store fixtures for the request-record tests (SQLite and PostgreSQL)."""

from corral.store.testing import backend, db, db_url, kv, migrated_db  # noqa: F401
