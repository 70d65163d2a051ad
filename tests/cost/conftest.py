"""Backend-parametrized database fixtures (SQLite always, PostgreSQL when reachable)."""

from corral.store.testing import backend, db, db_url  # noqa: F401
