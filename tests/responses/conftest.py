"""Store-backed tests run on SQLite and PostgreSQL (skipped locally when PostgreSQL is down)."""

from corral.store.testing import backend, db, db_url, migrated_db  # noqa: F401
