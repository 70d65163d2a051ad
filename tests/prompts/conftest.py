"""Backend-parametrized store fixtures (SQLite and PostgreSQL) for the prompt registry tests."""

from corral.store.testing import backend, db, db_url, kv, migrated_db  # noqa: F401
