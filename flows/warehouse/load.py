"""Load: land pages in raw, type them with sql/staging, quarantine the bad, merge into core."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import polars as pl

from flows.warehouse import Warehouse, read_sql
from sources import ExportFatalError, FilePage, JsonPage, Page

__all__ = ["MERGES", "WINDOW_FIELDS", "LoadResult", "land", "merge_batch", "merge_staged"]

WINDOW_FIELDS = {
    "orders": "updated_at",
    "traffic": "hour",
    "inventory": "snapshot_at",
    "products": "updated_at",
    "promotions": "updated_at",
    "keywords": "hour",
    "service_chats": "updated_at",
    "reviews": "updated_at",
    "shipments": "updated_at",
}


@dataclass(frozen=True)
class Merge:
    """How a dataset's staged rows enter core: its key, and the version column if it has one."""

    table: str
    key: tuple[str, ...]
    columns: tuple[str, ...]
    version: str | None = None


MERGES = {
    "orders": Merge(
        "core.orders",
        ("order_id", "sku_id"),
        (
            "buyer_id",
            "quantity",
            "unit_price",
            "pay_amount",
            "status",
            "source",
            "promo_id",
            "created_at",
            "paid_at",
            "updated_at",
            "extra",
        ),
        version="updated_at",
    ),
    "traffic": Merge(
        "core.traffic",
        ("hour", "source", "sku_id"),
        ("visitors", "page_views", "bounces", "add_to_cart", "favorites", "extra"),
    ),
    "inventory": Merge(
        "core.inventory",
        ("snapshot_at", "sku_id", "warehouse"),
        ("on_hand", "reserved", "extra"),
    ),
    "products": Merge(
        "core.products",
        ("sku_id",),
        (
            "title",
            "category",
            "list_price",
            "lowest_price_90d",
            "safety_stock",
            "updated_at",
            "extra",
        ),
        version="updated_at",
    ),
    "promotions": Merge(
        "core.promotions",
        ("promo_id",),
        (
            "name",
            "kind",
            "starts_at",
            "ends_at",
            "threshold_amount",
            "discount_amount",
            "updated_at",
            "extra",
        ),
        version="updated_at",
    ),
    "keywords": Merge(
        "core.keywords",
        ("hour", "keyword"),
        ("impressions", "clicks", "visitors", "buyers", "pay_amount", "extra"),
    ),
    "service_chats": Merge(
        "core.service_chats",
        ("chat_id",),
        (
            "buyer_id",
            "started_at",
            "first_response_at",
            "responder",
            "resolved",
            "sku_id",
            "updated_at",
            "extra",
        ),
        version="updated_at",
    ),
    "reviews": Merge(
        "core.reviews",
        ("review_id",),
        (
            "order_id",
            "sku_id",
            "buyer_id",
            "rating",
            "text",
            "has_images",
            "ip_hash",
            "created_at",
            "replied_at",
            "updated_at",
            "extra",
        ),
        version="updated_at",
    ),
    "shipments": Merge(
        "core.shipments",
        ("order_id",),
        ("promised_ship_by", "shipped_at", "returned_at", "return_reason", "updated_at", "extra"),
        version="updated_at",
    ),
}

# instants whose KPI hour a changed row touches
_TOUCH = {
    "orders": ("created_at", "paid_at", "updated_at"),
    "traffic": ("hour",),
    "keywords": ("hour",),
    "inventory": ("snapshot_at",),
    "service_chats": ("started_at",),
    "reviews": ("created_at", "replied_at"),
    # not promised_ship_by: it lies in the future, and marts never hold future hours
    "shipments": ("shipped_at", "returned_at", "updated_at"),
}


@dataclass
class LoadResult:
    """What one dataset's load did."""

    dataset: str
    landed: int = 0
    loaded: int = 0
    quarantined: int = 0
    touched: pl.Series = field(default_factory=lambda: pl.Series("t", [], pl.Datetime("us", "UTC")))


def land(
    wh: Warehouse,
    batch_id: str,
    dataset: str,
    page: Page,
    seq: int,
    since: datetime | None,
    until: datetime,
) -> int:
    """Append one page's records to raw.records in bulk (DuckDB parses them); returns the count."""
    if isinstance(page, JsonPage):
        # json_extract's path walk is ~5x faster than casting the page to json and from_json
        reader = "select unnest(json_extract($text, '$.items[*]')) as record"
        params: dict[str, object] = {"text": page.text}
    else:
        reader = _file_reader(page)
        params = {"path": str(page.path)}
    window = WINDOW_FIELDS[dataset]
    sql = f"""
        insert into raw.records (batch_id, dataset, seq, record)
        select $batch_id, $dataset, $seq + row_number() over (), record
        from (
            -- unreadable times pass through to staging, which quarantines them with a reason;
            -- so does an item that is JSON null
            select
                coalesce(record, 'null'::json) as record,
                try_cast(record ->> '{window}' as timestamptz) as window_at
            from ({reader})
        )
        where window_at is null
            or (($since::timestamptz is null or window_at >= $since) and window_at < $until)
    """
    params.update(batch_id=batch_id, dataset=dataset, seq=seq, since=since, until=until)
    if isinstance(page, JsonPage):
        # DuckDB answers an insert with the number of rows it inserted
        return int(wh.rows(sql, params)[0][0])
    try:
        return int(wh.rows(sql, params)[0][0])
    except duckdb.Error as exc:
        # a file that is not what its name says (a truncated download, a renamed export)
        reason = str(exc).splitlines()[0][:300]
        raise ExportFatalError(
            f"{page.path}: cannot read this {page.format} file of {dataset}: {reason}",
            dataset=dataset,
            source=str(page.path),
        ) from None


def _file_reader(page: FilePage) -> str:
    if page.format == "jsonl":
        return "select json as record from read_json_objects($path, format = 'newline_delimited')"
    if page.format == "csv":
        return (
            "select to_json(t) as record from read_csv($path, all_varchar = true, header = true) t"
        )
    return "select to_json(t) as record from read_parquet($path) t"


def merge_batch(wh: Warehouse, batch_id: str, dataset: str) -> LoadResult:
    """Type the batch with its staging model, quarantine failures, merge the rest into core.

    Runs inside the caller's transaction: on failure its rollback undoes all of this.
    """
    staged = f"_stg_{dataset}"
    stage = read_sql(f"staging/stg_{dataset}")
    wh.execute(f"create or replace temp table {staged} as {stage}", {"batch_id": batch_id})
    return merge_staged(wh, batch_id, dataset, staged)


def merge_staged(wh: Warehouse, batch_id: str, dataset: str, staged: str) -> LoadResult:
    """Quarantine and merge rows already typed by the dataset's staging model, then drop them.

    `staged` names a table with the staging model's columns (a backfill stages its chunks
    elsewhere, in parallel, and hands them to the single writer this way).
    """
    merge = MERGES[dataset]
    wh.execute(
        f"""
        insert or ignore into ops.quarantine (batch_id, dataset, seq, reason, record, record_hash)
        select $batch_id, $dataset, seq, reason, record, md5(record::varchar)
        from {staged} where reason is not null
        """,
        {"batch_id": batch_id, "dataset": dataset},
    )
    landed, quarantined = wh.rows(f"select count(*), count(reason) from {staged}")[0]
    result = LoadResult(
        dataset, landed=landed, loaded=landed - quarantined, quarantined=quarantined
    )
    result.touched = _touched(wh, staged, merge, dataset)
    _merge_rows(wh, staged, merge)
    if dataset == "promotions":
        _merge_promotion_items(wh, staged)
    wh.execute(f"drop table {staged}")
    return result


def _merge_rows(wh: Warehouse, staged: str, merge: Merge) -> None:
    """Merge the latest staged version of each key, writing only the keys that change.

    A lookback re-reads mostly unchanged rows: those equal to core in every column are
    dropped before the write (updating them would change nothing). Keys new to core go in
    with a plain insert (into an empty table, a first load, the whole batch at once, with no
    comparison); only keys already in core pay for `on conflict do update`.
    """
    keys = ", ".join(merge.key)
    names = [*merge.key, *merge.columns]
    columns = ", ".join(names)
    order = f"{merge.version} desc, seq desc" if merge.version else "seq desc"
    latest = (
        f"select {columns} from {staged} where reason is null"
        f" qualify row_number() over (partition by {keys} order by {order}) = 1"
    )
    if not wh.rows(f"select exists (select 1 from {merge.table})")[0][0]:
        # a first load: nothing to compare against or conflict with
        wh.execute(f"insert into {merge.table} ({columns}) {latest}")
        return
    join = " and ".join(f"c.{k} = s.{k}" for k in merge.key)
    differs = " or ".join(f"c.{c} is distinct from s.{c}" for c in merge.columns)
    wh.execute(
        f"""
        create or replace temp table _merge as
        with latest as ({latest})
        select {", ".join(f"s.{n}" for n in names)}, c.{merge.key[0]} is null as is_new
        from latest s left join {merge.table} c on {join}
        where c.{merge.key[0]} is null or {differs}
        """
    )
    wh.execute(f"insert into {merge.table} ({columns}) select {columns} from _merge where is_new")
    updates = ", ".join(f"{c} = excluded.{c}" for c in merge.columns)
    newer = (
        f" where excluded.{merge.version} >= {merge.table}.{merge.version}" if merge.version else ""
    )
    wh.execute(
        f"""
        insert into {merge.table} ({columns})
        select {columns} from _merge where not is_new
        on conflict ({keys}) do update set {updates}{newer}
        """
    )
    wh.execute("drop table _merge")


def _touched(wh: Warehouse, staged: str, merge: Merge, dataset: str) -> pl.Series:
    """Instants (to the quarter hour) of the staged rows that change core, and of the core
    versions they replace; a row re-read unchanged by the lookback touches nothing."""
    fields = _TOUCH.get(dataset, ())
    if not fields:
        return LoadResult(dataset).touched
    join = " and ".join(f"c.{k} = s.{k}" for k in merge.key)
    compared = [merge.version] if merge.version else [c for c in merge.columns if c != "extra"]
    differs = " or ".join(f"c.{c} is distinct from s.{c}" for c in compared)
    # one join gives both: the staged row's instants and, where it replaces a version
    # (versioned datasets), that version's; unmatched core columns are null and drop out
    olds = [f"c.{name} as c_{name}" for name in fields] if merge.version else []
    changed = (
        f"select {', '.join([*(f's.{n} as s_{n}' for n in fields), *olds])}"
        f" from {staged} s left join {merge.table} c on {join}"
        f" where s.reason is null and (c.{merge.key[0]} is null or {differs})"
    )
    selects = [f"select s_{name} as t from changed" for name in fields]
    if merge.version:
        selects += [f"select c_{name} as t from changed" for name in fields]
    sql = (
        f"with changed as materialized ({changed}) "
        "select distinct time_bucket(interval '15 minutes', t) as t from ("
        + " union all ".join(selects)
        + ") where t is not null order by t"
    )
    return wh.frame(sql).get_column("t").cast(pl.Datetime("us", "UTC"))


def _merge_promotion_items(wh: Warehouse, staged: str) -> None:
    # a promotion's item list is replaced whole by the version that won the merge
    wh.execute(
        f"""
        delete from core.promotion_items
        where promo_id in (
            select s.promo_id from {staged} s
            join core.promotions p on p.promo_id = s.promo_id and p.updated_at = s.updated_at
            where s.reason is null
        )
        """
    )
    wh.execute(
        f"""
        insert or replace into core.promotion_items
            (promo_id, sku_id, promo_price, stock_commitment)
        with won as (
            select s.promo_id, s.items from {staged} s
            join core.promotions p on p.promo_id = s.promo_id and p.updated_at = s.updated_at
            where s.reason is null
            qualify row_number() over (partition by s.promo_id order by s.seq desc) = 1
        ),
        items as (
            select promo_id, unnest(from_json(items, '["json"]')) as item from won
        )
        select
            promo_id,
            item ->> 'sku_id',
            as_num(item ->> 'promo_price'),
            as_int(item ->> 'stock_commitment')
        from items
        """
    )
