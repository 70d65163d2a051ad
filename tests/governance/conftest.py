"""Backend-parametrized store fixtures, plus helpers shared by the governance tests."""

from corral.store.testing import backend, db, db_url, kv, migrated_db  # noqa: F401
