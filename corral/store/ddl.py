"""DDL for migrations: a snapshot table's CREATE TABLE and its indexes, in a stable order."""

from __future__ import annotations

from sqlalchemy import Table
from sqlalchemy.schema import CreateIndex, CreateTable
from sqlalchemy.sql import Executable


def create_table_ddl(*tables: Table) -> list[Executable]:
    """CREATE TABLE plus CREATE INDEX statements for snapshot tables."""
    ddl: list[Executable] = []
    for table in tables:
        ddl.append(CreateTable(table))
        ddl.extend(CreateIndex(ix) for ix in sorted(table.indexes, key=lambda i: str(i.name)))
    return ddl
