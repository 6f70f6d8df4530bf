"""Load rate of the `files` source against DuckDB's own read_json of the same export.

    .venv/bin/python -m bench.load_files --lines 1000000

Writes a deterministic JSON-lines export of order lines (numbers as decimal strings and as JSON
numbers, as the API sends them), then times, side by side:
- reference: DuckDB `read_json` of the file into a table (no validation, no merge);
- shoppulse: the `files` source through land → staging (typing, validation, quarantine) → merge
  into core.orders, in one transaction, as an hourly run does.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from flows.warehouse import Warehouse
from flows.warehouse.load import land, merge_batch
from sources import FilePage

__all__ = ["main", "write_export"]

UNTIL = datetime(2026, 11, 12, tzinfo=UTC)


def write_export(path: Path, lines: int) -> None:
    """A JSON-lines export of `lines` order lines, written by DuckDB (fast, deterministic)."""
    con = duckdb.connect()
    con.execute(
        f"""
        copy (
            select
                'T' || lpad((i // 2)::varchar, 9, '0') as order_id,
                'U' || lpad((i % 50000)::varchar, 6, '0') as buyer_id,
                'SKU' || (1000 + i % 2 * 7 + (i // 2) % 400)::varchar as sku_id,
                1 + i % 3 as quantity,
                printf('%.2f', 10 + (i % 9000) / 100.0) as unit_price,
                round((1 + i % 3) * (10 + (i % 9000) / 100.0), 2) as pay_amount,
                ['paid', 'shipped', 'completed', 'cancelled', 'refunded'][1 + i % 5] as status,
                ['search', 'recommend', 'direct', 'ads', 'social'][1 + i % 5] as source,
                case when i % 7 = 0 then 'P-FLASH-1' end as promo_id,
                strftime(timestamptz '2026-11-01 00:00:00+08' + to_seconds(i % 864000),
                         '%Y-%m-%dT%H:%M:%S+08:00') as created_at,
                strftime(timestamptz '2026-11-01 00:01:00+08' + to_seconds(i % 864000),
                         '%Y-%m-%dT%H:%M:%S+08:00') as paid_at,
                strftime(timestamptz '2026-11-01 00:02:00+08' + to_seconds(i % 864000),
                         '%Y-%m-%dT%H:%M:%S+08:00') as updated_at
            from range({int(lines)}) t(i)
        ) to '{path}' (format json)
        """
    )
    con.close()


def reference(path: Path, db: Path) -> float:
    con = duckdb.connect(str(db))
    started = time.perf_counter()
    con.execute(f"create table orders as select * from read_json('{path}')").fetchall()
    elapsed = time.perf_counter() - started
    con.close()
    return elapsed


def shoppulse(path: Path, db: Path) -> tuple[float, int]:
    with Warehouse(db) as wh:
        started = time.perf_counter()
        with wh.transaction():
            land(wh, "bench", "orders", FilePage(path, "jsonl"), 0, None, UNTIL)
            result = merge_batch(wh, "bench", "orders")
        elapsed = time.perf_counter() - started
        return elapsed, result.loaded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "orders.jsonl"
        write_export(export, args.lines)
        ref = reference(export, Path(tmp) / "ref.duckdb")
        ours, loaded = shoppulse(export, Path(tmp) / "shop.duckdb")
    print(f"order lines: {args.lines:,} ({loaded:,} loaded into core.orders)")
    print(f"{'run':<28}{'seconds':>10}{'lines/s':>14}{'ratio':>8}")
    print(f"{'duckdb read_json (ref)':<28}{ref:>10.2f}{args.lines / ref:>14,.0f}{1.0:>8.2f}")
    print(f"{'shoppulse files load':<28}{ours:>10.2f}{args.lines / ours:>14,.0f}{ours / ref:>8.2f}")


if __name__ == "__main__":
    main()
