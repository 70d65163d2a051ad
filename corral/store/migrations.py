"""Ordered, versioned schema migrations recorded in ``schema_migrations``.

To change the schema, *append* a :class:`Migration` to :data:`MIGRATIONS`
with the next version number and update :mod:`corral.store.schema` to match.
Never edit a migration that has shipped: databases in the field already ran
it. Each migration snapshots the tables it creates (its own ``MetaData``)
instead of importing them from ``schema``, so later edits to ``schema``
cannot change what an old migration does. The migrations live by feature:
:mod:`corral.store.migrate_records` (1-6), :mod:`corral.store.migrate_jobs` (7-10, 13),
:mod:`corral.store.migrate_knowledge` (11-12), :mod:`corral.store.migrate_governance` (14)
and :mod:`corral.store.migrate_prompts` (15);
this module orders and applies them.

All pending migrations run in one transaction under a named lock
(``pg_advisory_xact_lock`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so
many replicas may call :func:`migrate` at startup at the same time: one
applies, the others wait and then find nothing to do.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import inspect, select
from sqlalchemy.schema import CreateTable
from sqlalchemy.sql import Executable

from corral.store.db import Database, Transaction
from corral.store.migrate_governance import v14_audit_log
from corral.store.migrate_incidents import v16_incidents
from corral.store.migrate_jobs import v7_files, v8_jobs, v9_responses, v10_batches, v13_claim_order
from corral.store.migrate_knowledge import v11_knowledge_index, v12_vector_stores
from corral.store.migrate_prompts import v15_prompts
from corral.store.migrate_records import (
    v1_api_keys,
    v2_policy_events,
    v3_requests,
    v4_quality,
    v5_client_request_id,
    v6_operation,
)
from corral.store.schema import schema_migrations, utcnow

log = logging.getLogger(__name__)

MIGRATION_LOCK = "corral.store.migrations"

Step = str | Executable
Apply = Callable[[Transaction], Awaitable[None]]


@dataclass(frozen=True)
class Migration:
    """One schema change: a list of DDL statements, or an async callable for logic/branching."""

    version: int
    name: str
    apply: Sequence[Step] | Apply

    async def run(self, tx: Transaction) -> None:
        if callable(self.apply):
            await self.apply(tx)
        else:
            for step in self.apply:
                await tx.execute(step)


# Append only. Versions must strictly increase.
MIGRATIONS: list[Migration] = [
    Migration(1, "create api_keys", v1_api_keys),
    Migration(2, "create policy_events", v2_policy_events),
    Migration(3, "create requests", v3_requests),
    Migration(4, "create feedback, golden_examples, quality_scores", v4_quality),
    Migration(5, "requests.client_request_id", v5_client_request_id),
    Migration(6, "requests.operation", v6_operation),
    Migration(7, "create files, file_chunks", v7_files),
    Migration(8, "create jobs", v8_jobs),
    Migration(9, "create responses", v9_responses),
    Migration(10, "create batches", v10_batches),
    Migration(11, "create kb_chunks, kb_chunk_refs, kb_index_stores (FTS5 / pgvector)", v11_knowledge_index),
    Migration(12, "create vector_stores and their files, texts, file batches", v12_vector_stores),
    Migration(13, "jobs: claim-order index (status, priority DESC, not_before, id)", v13_claim_order),
    Migration(14, "create audit_log (hash-chained)", v14_audit_log),
    Migration(15, "create prompts, prompt_versions, prompt_labels, prompt_changes", v15_prompts),
    Migration(16, "create incidents, incident_notes, input_rules", v16_incidents),
]


def _validate(migrations: Sequence[Migration]) -> None:
    versions = [m.version for m in migrations]
    if versions != sorted(set(versions)) or any(v <= 0 for v in versions):
        raise ValueError(f"migration versions must be positive and strictly increasing: {versions}")


async def applied_versions(db: Database) -> list[int]:
    """Versions recorded in ``schema_migrations`` (empty if the table is missing)."""
    async with db.transaction(readonly=True) as tx:
        exists = await tx.connection.run_sync(lambda c: inspect(c).has_table(schema_migrations.name))
        if not exists:
            return []
        rows = await tx.fetch_all(select(schema_migrations.c.version).order_by(schema_migrations.c.version))
    return [r["version"] for r in rows]


async def migrate(db: Database, migrations: Iterable[Migration] | None = None) -> list[int]:
    """Apply pending migrations atomically; return the versions applied (empty if up to date)."""
    todo_all = list(MIGRATIONS if migrations is None else migrations)
    _validate(todo_all)
    applied_now: list[int] = []
    async with db.transaction() as tx:
        await tx.lock(MIGRATION_LOCK)
        await tx.execute(CreateTable(schema_migrations, if_not_exists=True))
        rows = await tx.fetch_all(select(schema_migrations.c.version))
        done = {r["version"] for r in rows}
        for m in todo_all:
            if m.version in done:
                continue
            log.info("applying migration %d: %s", m.version, m.name)
            await m.run(tx)
            await tx.execute(
                schema_migrations.insert().values(version=m.version, name=m.name, applied_at=utcnow())
            )
            applied_now.append(m.version)
        unknown = done - {m.version for m in todo_all}
        if unknown:
            log.warning(
                "database has migrations this code does not know: %s (newer release?)",
                sorted(unknown),
            )
    return applied_now
