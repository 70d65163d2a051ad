"""Store-backed fixtures: tests that ask for a database run on SQLite and PostgreSQL."""

from corral.store.testing import backend, db, db_url, migrated_db  # noqa: F401
