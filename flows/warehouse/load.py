"""Load: land pages in raw, type them with sql/staging, quarantine the bad, merge into core."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import polars as pl

from flows.warehouse import Warehouse, read_sql
from sources import ExportFatalError, FilePage, JsonPage, Page

__all__ = [
    "LANDING",
    "MERGES",
    "WINDOW_FIELDS",
    "LoadResult",
    "land",
    "land_new",
    "landing",
    "merge_batch",
    "merge_staged",
    "raw_holds",
    "receive",
    "record_batch",
    "staged_fingerprint",
]

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
    """What one dataset's load did: records received, landed new, merged, quarantined."""

    dataset: str
    landed: int = 0
    loaded: int = 0
    quarantined: int = 0
    received: int = 0
    touched: pl.Series = field(default_factory=lambda: pl.Series("t", [], pl.Datetime("us", "UTC")))

    def add(self, other: LoadResult) -> None:
        """Count another part of the same window's load in this one."""
        self.landed += other.landed
        self.loaded += other.loaded
        self.quarantined += other.quarantined
        self.received += other.received
        if other.touched.len():
            self.touched = pl.concat([self.touched, other.touched]).unique().sort()


def _other_keys(dataset: str) -> list[str]:
    """The key fields besides the window field, for datasets without a version column."""
    merge = MERGES[dataset]
    if merge.version:
        return []
    return [k for k in merge.key if k != WINDOW_FIELDS[dataset]]


def _received(dataset: str, reader: str) -> str:
    """The reader's records in the window, each with its window instant and hashes.

    The record hash is of its text as received; the key hash (datasets without a version
    column only) of its key fields besides the window field, as text.
    """
    window = WINDOW_FIELDS[dataset]
    others = _other_keys(dataset)
    paths = ", ".join(f"'$.{name}'" for name in (window, *others))
    key_hash = "hash(v[2:])" if others else "null::ubigint"
    # The window test below names window_at three times; pushed down into the projections
    # that compute it, DuckDB would parse each record's JSON and cast its instant once per
    # name (measured: half the landing time). A filter does not pass a window function, so
    # the unused row_number() keeps it above them (the optimizer then drops the row_number).
    return f"""
        select record, window_at, hash(record::varchar) as record_hash, {key_hash} as key_hash
        from (
            -- unreadable times pass through to staging, which quarantines them with a reason;
            -- so does an item that is JSON null
            select *, row_number() over () as _fence
            from (
                select record, v, try_cast(v[1] as timestamptz) as window_at
                from (
                    select record, json_extract_string(record, [{paths}]) as v
                    from (select coalesce(record, 'null'::json) as record from ({reader}))
                )
            )
        )
        where window_at is null
            or (($since::timestamptz is null or window_at >= $since) and window_at < $until)
    """


def _reader(page: Page) -> tuple[str, dict[str, object]]:
    if isinstance(page, JsonPage):
        # json_each walks the page once (~5x faster than casting it to json and from_json,
        # a third cheaper than unnesting json_extract's list); a page's items are a list
        return "select value as record from json_each($text, '$.items')", {"text": page.text}
    return _file_reader(page), {"path": str(page.path)}


def _read_page(wh: Warehouse, dataset: str, page: Page, sql: str, params: dict[str, object]) -> int:
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


def land(
    wh: Warehouse,
    batch_id: str,
    dataset: str,
    page: Page,
    seq: int,
    since: datetime | None,
    until: datetime,
) -> int:
    """Append one page's records to raw.records in bulk (DuckDB parses them); returns the count.

    Every record lands, unchanged ones too: for a first load (`raw_holds` is false) and for
    a backfill chunk's scratch warehouse; otherwise the load goes through `receive` and
    `land_new`.
    """
    reader, params = _reader(page)
    sql = f"""
        insert into raw.records
            (batch_id, dataset, seq, record, window_at, record_hash, key_hash)
        select $batch_id, $dataset, $seq + row_number() over (), *
        from ({_received(dataset, reader)})
    """
    params.update(batch_id=batch_id, dataset=dataset, seq=seq, since=since, until=until)
    return _read_page(wh, dataset, page, sql, params)


LANDING = "_landing"


@contextmanager
def landing(wh: Warehouse) -> Iterator[None]:
    """An empty temp table for a window's records received but not yet landed, for the block."""
    wh.execute(
        f"create or replace temp table {LANDING} (seq bigint, record json,"
        " window_at timestamptz, record_hash ubigint, key_hash ubigint)"
    )
    yield
    wh.execute(f"drop table {LANDING}")


def receive(
    wh: Warehouse, dataset: str, page: Page, seq: int, since: datetime | None, until: datetime
) -> int:
    """Append one page's records in the window to the landing table; returns the count."""
    reader, params = _reader(page)
    sql = f"""
        insert into {LANDING} select $seq + row_number() over (), *
        from ({_received(dataset, reader)})
    """
    params.update(seq=seq, since=since, until=until)
    return _read_page(wh, dataset, page, sql, params)


def land_new(wh: Warehouse, batch_id: str, dataset: str) -> int:
    """Move the landing table's records into raw.records, except those raw already holds
    unchanged; returns how many landed.

    Unchanged means: the same text with the same window instant was landed before (datasets
    with a version column: a version once landed was merged or quarantined then, and a
    re-read changes neither); for the others (a key holds whatever was landed last) the
    last record landed for the same key has the same text. A record whose window instant
    does not read always lands (staging quarantines it).
    """
    lo, hi = wh.rows(f"select min(window_at), max(window_at) from {LANDING}")[0]
    known = (
        "select window_at, record_hash, key_hash from raw.records"
        " where dataset = $dataset and window_at between $lo and $hi"
    )
    if _other_keys(dataset):
        # the last record landed per key: later transactions, then later in the batch
        known += (
            " qualify row_number() over"
            " (partition by window_at, key_hash order by landed_at desc, seq desc) = 1"
        )
        same = "k.key_hash = l.key_hash and k.record_hash = l.record_hash"
    else:
        same = "k.record_hash = l.record_hash"
    (landed,) = wh.rows(
        f"""
        insert into raw.records
            (batch_id, dataset, seq, record, window_at, record_hash, key_hash)
        with known as ({known})
        select $batch_id, $dataset, l.seq, l.record, l.window_at, l.record_hash, l.key_hash
        from {LANDING} l
        where not exists (
            select 1 from known k where k.window_at = l.window_at and {same}
        )
        """,
        {"batch_id": batch_id, "dataset": dataset, "lo": lo, "hi": hi},
    )[0]
    wh.execute(f"delete from {LANDING}")
    return int(landed)


def raw_holds(wh: Warehouse, dataset: str, since: datetime | None, until: datetime) -> bool:
    """Whether raw.records holds a record of `dataset` in the window; if not, none received
    can be unchanged (a first load lands every record without comparing)."""
    (holds,) = wh.rows(
        "select exists (select 1 from raw.records where dataset = $dataset"
        " and ($since::timestamptz is null or window_at >= $since) and window_at < $until)",
        {"dataset": dataset, "since": since, "until": until},
    )[0]
    return bool(holds)


def record_batch(
    wh: Warehouse,
    batch_id: str,
    dataset: str,
    since: datetime | None,
    until: datetime,
    received: int,
    landed: int,
) -> None:
    """Note in raw.batches how many records a batch received and how many were new."""
    wh.execute(
        "insert or replace into raw.batches"
        " (batch_id, dataset, window_start, window_end, received, landed)"
        " values (?, ?, ?, ?, ?, ?)",
        [batch_id, dataset, since, until, received, landed],
    )


def staged_fingerprint(dataset: str) -> str:
    """The raw.records fingerprint columns (window_at, record_hash, key_hash) computed from a
    staging model's typed rows, as `land` computes them from the received text."""
    others = _other_keys(dataset)
    key_hash = f"hash([{', '.join(others)}])" if others else "null::ubigint"
    return f"{WINDOW_FIELDS[dataset]}, hash(record::varchar), {key_hash}"


def _file_reader(page: FilePage) -> str:
    if page.format == "jsonl":
        return "select json as record from read_json_objects($path, format = 'newline_delimited')"
    if page.format == "csv":
        return (
            "select to_json(t) as record from read_csv($path, all_varchar = true, header = true) t"
        )
    return "select to_json(t) as record from read_parquet($path) t"


def merge_batch(wh: Warehouse, batch_id: str, dataset: str, from_seq: int = 0) -> LoadResult:
    """Type the batch's records (from seq `from_seq` on) with its staging model, quarantine
    failures, merge the rest into core.

    Runs inside the caller's transaction: on failure its rollback undoes all of this.
    """
    staged = f"_stg_{dataset}"
    stage = read_sql(f"staging/stg_{dataset}")
    # the record text stays in raw; only a quarantined record needs a copy here
    wh.execute(
        f"create or replace temp table {staged} as select * replace"
        f" (case when reason is not null then record end as record) from ({stage})",
        {"batch_id": batch_id, "from_seq": from_seq},
    )
    return merge_staged(wh, batch_id, dataset, staged)


def merge_staged(wh: Warehouse, batch_id: str, dataset: str, staged: str) -> LoadResult:
    """Quarantine and merge rows already typed by the dataset's staging model, then drop them.

    `staged` names a table with the staging model's columns (a backfill stages its chunks
    elsewhere, in parallel, and hands them to the single writer this way).
    """
    merge = MERGES[dataset]
    landed, quarantined = wh.rows(f"select count(*), count(reason) from {staged}")[0]
    if quarantined:
        wh.execute(
            f"""
            insert or ignore into ops.quarantine
                (batch_id, dataset, seq, reason, record, record_hash)
            select $batch_id, $dataset, seq, reason, record, md5(record::varchar)
            from {staged} where reason is not null
            """,
            {"batch_id": batch_id, "dataset": dataset},
        )
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
    # the latest version per key, ties to the later record (seq is unique in a batch): a
    # grouped arg_max and a semi join cost less than a window partitioned by the key
    order = f"({merge.version}, seq)" if merge.version else "seq"
    latest = (
        f"select {columns} from {staged} semi join (select arg_max(seq, {order}) as seq"
        f" from {staged} where reason is null group by {keys}) using (seq)"
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
