"""Backend-parametrized store fixtures for the budget reports (SQLite and PostgreSQL)."""

from corral.store.testing import backend, db, db_url, kv, migrated_db  # noqa: F401
