"""Store-backed fixtures: every test here runs on SQLite and on PostgreSQL (when reachable)."""

from corral.store.testing import backend, db, db_url, migrated_db  # noqa: F401
