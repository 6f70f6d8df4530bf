"""The warehouse: one DuckDB file per shop; connection, load, mart refresh and the single writer.

`connection` opens the file and applies sql/ DDL, `lock` makes one run its only writer, `load`
lands and merges pages, `marts` refreshes the KPI tables, `writer` merges a backfill's chunks.
"""

from __future__ import annotations

from flows.warehouse.connection import SQL_DIR, Warehouse, read_sql, warehouse_holder, writer_lock

__all__ = ["SQL_DIR", "Warehouse", "read_sql", "warehouse_holder", "writer_lock"]
