"""Backend-parametrized store fixtures (SQLite and PostgreSQL), as the other packages use."""

from corral.store.testing import backend, db, db_url, kv, migrated_db  # noqa: F401
