"""The marts in a real DuckDB file: contracts, refresh through the loader, RFM, a week's check."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from bench.kpi_refresh import Shop, populate
from flows.warehouse import Warehouse, read_sql
from flows.warehouse.load import land, merge_batch
from flows.warehouse.marts import refresh_marts, refresh_rfm
from sources import JsonPage
from transforms import KPI_DAILY_SCHEMA, MART_SCHEMAS, hour_windows, rfm_base
from transforms.rfm import RFM_BASE_SCHEMA

README = Path(__file__).resolve().parent.parent / "README.md"
SHANGHAI = "Asia/Shanghai"
DUCKDB_TYPES = {
    pl.Datetime("us", "UTC"): "TIMESTAMP WITH TIME ZONE",
    pl.Date(): "DATE",
    pl.Int64(): "BIGINT",
    pl.Float64(): "DOUBLE",
    pl.String(): "VARCHAR",
    pl.Boolean(): "BOOLEAN",
}


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    with Warehouse(tmp_path / "shop.duckdb") as warehouse:
        yield warehouse


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize("table", list(MART_SCHEMAS))
def test_mart_columns_match_transform_schema(wh: Warehouse, table: str) -> None:
    schema_name, name = table.split(".")
    columns = wh.rows(
        "select column_name, data_type from information_schema.columns"
        " where table_schema = ? and table_name = ? order by ordinal_position",
        [schema_name, name],
    )
    want = [(column, DUCKDB_TYPES[dtype]) for column, dtype in MART_SCHEMAS[table].items()]
    assert columns == want
    assert dict(wh.frame(f"select * from {table} limit 0").schema) == MART_SCHEMAS[table]


def test_glossary_names_exactly_the_mart_columns() -> None:
    text = README.read_text(encoding="utf-8")
    assert "<!-- kpi-glossary:start -->" in text and "<!-- kpi-glossary:end -->" in text
    glossary = text.split("<!-- kpi-glossary:start -->")[1].split("<!-- kpi-glossary:end -->")[0]
    documented: dict[str, set[str]] = {}
    for row in glossary.splitlines():
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if len(cells) < 2 or not re.fullmatch(r"`\w+`", cells[0]):
            continue
        tables = set(re.findall(r"`(mart\.\w+)`", cells[1]))
        documented[cells[0].strip("`")] = tables
    actual: dict[str, set[str]] = {}
    for table, schema in MART_SCHEMAS.items():
        for column in schema:
            actual.setdefault(column, set()).add(table)
    assert documented == actual


# --- refresh through the real loader: late refunds and cancellations -------------------------


def load(wh: Warehouse, pages: dict[str, list[dict[str, Any]]], until: datetime) -> int:
    """Land and merge each dataset's page, then refresh what they touched, as run_hour does."""
    touched = []
    for dataset, records in pages.items():
        body = json.dumps({"dataset": dataset, "items": records, "next_cursor": None})
        batch = f"b-{dataset}-{until:%Y%m%d%H}"
        with wh.transaction():
            land(wh, batch, dataset, JsonPage(body, len(records)), 0, None, until)
            touched.append(merge_batch(wh, batch, dataset).touched)
    with wh.transaction():
        return refresh_marts(wh, SHANGHAI, pl.concat(touched))


def order(
    order_id: str, buyer: str, status: str, created: str, paid: str | None, updated: str
) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "buyer_id": buyer,
        "sku_id": "SKU1",
        "quantity": 1,
        "unit_price": "100.00",
        "pay_amount": "100.00" if order_id == "O1" else 45,
        "status": status,
        "source": "search",
        "promo_id": None,
        "created_at": created,
        "paid_at": paid,
        "updated_at": updated,
    }


def marts(wh: Warehouse) -> dict[str, pl.DataFrame]:
    return {table: wh.frame(f"select * from {table} order by all") for table in MART_SCHEMAS}


TRAFFIC_10 = {
    "hour": "2026-11-11T10:00+08:00",
    "source": "search",
    "sku_id": "SKU1",
    "visitors": 100,
    "page_views": 300,
    "bounces": 40,
    "add_to_cart": 9,
    "favorites": 4,
}
SNAPSHOT_11 = {
    "snapshot_at": "2026-11-11T11:00+08:00",
    "sku_id": "SKU1",
    "warehouse": "WH1",
    "on_hand": 50,
    "reserved": 2,
}
CREATED, PAID = "2026-11-11T10:01+08:00", "2026-11-11T10:05+08:00"


def test_late_refund_and_cancellation_change_their_own_hours(wh: Warehouse) -> None:
    first_run = t("2026-11-11T12:00+08:00")
    lines = [
        order("O1", "B1", "paid", CREATED, PAID, PAID),
        order("O2", "B2", "created", "2026-11-11T10:10+08:00", None, "2026-11-11T10:10+08:00"),
    ]
    load(wh, {"traffic": [TRAFFIC_10], "inventory": [SNAPSHOT_11], "orders": lines}, first_run)
    hour = wh.frame("select * from mart.kpi_hourly where hour = ?", [t("2026-11-11T10:00+08:00")])
    kpis = hour.select("gmv", "buyers", "conversion_rate", "created_lines", "cancel_rate")
    assert kpis.row(0) == (100.0, 1, 0.01, 2, 0.0)
    cover = wh.frame("select as_of, available, velocity_per_hour from mart.stock_cover")
    assert cover.rows() == [(first_run, 48, 1 / 24)]

    # a day later: O1 is refunded, and O2 turns out to have been cancelled at 12:40 the day before
    second_run = t("2026-11-12T14:00+08:00")
    late = [
        order("O1", "B1", "refunded", CREATED, PAID, "2026-11-12T13:30+08:00"),
        order("O2", "B2", "cancelled", "2026-11-11T10:10+08:00", None, "2026-11-11T12:40+08:00"),
    ]
    refreshed = load(wh, {"orders": late}, second_run)
    assert refreshed >= 3
    hourly = wh.frame(
        "select hour, gmv, cancelled_orders, cancel_rate, refund_amount from mart.kpi_hourly"
        " where gmv > 0 or cancelled_orders > 0 or refund_amount > 0 order by hour"
    )
    assert hourly.rows() == [
        (t("2026-11-11T10:00+08:00"), 100.0, 1, 0.5, 0.0),
        (t("2026-11-12T13:00+08:00"), 0.0, 0, None, 100.0),
    ]
    daily = wh.frame(
        "select day, gmv, buyers, cancel_rate, refund_amount from mart.kpi_daily order by day"
    )
    assert daily.rows() == [
        (date(2026, 11, 11), 100.0, 1, 0.5, 0.0),
        (date(2026, 11, 12), 0.0, 0, None, 100.0),
    ]
    # stock cover moves to the end of the latest touched hour
    as_ofs = wh.frame("select distinct as_of from mart.stock_cover order by as_of")
    assert as_ofs.get_column("as_of").to_list() == [first_run, second_run]

    # running the same refresh again changes nothing
    before = marts(wh)
    with wh.transaction():
        refresh_marts(
            wh, SHANGHAI, pl.Series([t("2026-11-11T10:05+08:00"), t("2026-11-12T13:30+08:00")])
        )
    after = marts(wh)
    for table in MART_SCHEMAS:
        assert_frame_equal(after[table], before[table])


def test_refresh_with_nothing_touched(wh: Warehouse) -> None:
    assert refresh_marts(wh, SHANGHAI, pl.Series([], dtype=pl.Datetime("us", "UTC"))) == 0


# --- RFM ----------------------------------------------------------------------------------------


def test_refresh_rfm_replaces_its_day_and_keeps_two_weeks(wh: Warehouse) -> None:
    wh.execute(
        """
        insert into core.orders
        select 'O' || i, 'SKU1', 'B' || (i % 7), 1, 10, 10 * (1 + i % 5),
            case when i % 11 = 0 then 'refunded' else 'completed' end, 'search', null,
            timestamptz '2026-01-01 00:00+00' + to_days(i::integer),
            timestamptz '2026-01-01 00:05+00' + to_days(i::integer),
            timestamptz '2026-01-01 00:05+00' + to_days(i::integer), null
        from range(300) as r(i)
        """
    )
    first = t("2026-11-01T00:00+08:00")
    assert refresh_rfm(wh, SHANGHAI, first) == 7
    assert refresh_rfm(wh, SHANGHAI, first) == 7  # same day again: replaced, not added
    segments = wh.frame("select * from mart.rfm_segments")
    assert segments.height == 7
    assert set(segments.get_column("segment")) <= {
        "high_value",
        "loyal",
        "potential",
        "at_risk",
        "churned",
        "hibernating",
        "need_attention",
    }
    # buyer B0 bought on days 0, 7, ..., 294 minus the refunded ones (i % 11 == 0)
    b0 = segments.filter(pl.col("buyer_id") == "B0").row(0, named=True)
    kept = [i for i in range(0, 300, 7) if i % 11]
    assert b0["frequency"] == len(kept)
    assert b0["monetary"] == sum(10 * (1 + i % 5) for i in kept)

    # the per-buyer SQL aggregate refresh_rfm reads is transforms.rfm.rfm_base in SQL
    lines = wh.frame("select order_id, buyer_id, pay_amount, status, paid_at from core.orders")
    in_sql = wh.frame(
        read_sql("reads/rfm_buyers"), {"start": first - timedelta(days=365), "end": first}
    ).select([pl.col(c).cast(d) for c, d in RFM_BASE_SCHEMA.items()])
    assert_frame_equal(in_sql, rfm_base(lines, first))

    refresh_rfm(wh, SHANGHAI, first + timedelta(days=10))
    refresh_rfm(wh, SHANGHAI, first + timedelta(days=20))
    as_ofs = wh.frame("select distinct as_of from mart.rfm_segments order by as_of")
    assert as_ofs.get_column("as_of").to_list() == [
        first + timedelta(days=10),
        first + timedelta(days=20),
    ]


# --- a simulated week: kpi_daily equals a plain SQL aggregate of core ------------------------

DAILY_SQL = """
with paid as (
    select
        timezone($tz, paid_at)::date as day,
        count(distinct order_id) as paid_orders,
        count(distinct buyer_id) as buyers,
        sum(quantity) as units,
        sum(pay_amount) as gmv
    from core.orders
    where paid_at is not null
    group by 1
),

created as (
    select
        timezone($tz, created_at)::date as day,
        count(*) as created_lines,
        count(*) filter (where status = 'cancelled') as cancelled_orders
    from core.orders
    group by 1
),

refunds as (
    select timezone($tz, updated_at)::date as day, sum(pay_amount) as refund_amount
    from core.orders
    where status = 'refunded'
    group by 1
),

traffic as (
    select
        timezone($tz, hour)::date as day,
        sum(visitors) as visitors,
        sum(page_views) as page_views,
        sum(bounces) as bounces,
        sum(add_to_cart) as add_to_cart,
        sum(favorites) as favorites
    from core.traffic
    group by 1
),

days as (
    select day from paid union select day from created
    union select day from refunds union select day from traffic
),

joined as (
    select
        d.day,
        coalesce(t.visitors, 0) as visitors,
        coalesce(t.page_views, 0) as page_views,
        coalesce(t.bounces, 0) as bounces,
        coalesce(t.add_to_cart, 0) as add_to_cart,
        coalesce(t.favorites, 0) as favorites,
        coalesce(p.paid_orders, 0) as paid_orders,
        coalesce(p.buyers, 0) as buyers,
        coalesce(p.units, 0) as units,
        coalesce(p.gmv, 0) as gmv,
        coalesce(c.created_lines, 0) as created_lines,
        coalesce(c.cancelled_orders, 0) as cancelled_orders,
        coalesce(r.refund_amount, 0) as refund_amount,
        exists (
            select 1 from core.promotions as x
            where x.starts_at < timezone($tz, (d.day + 1)::timestamp)
                and x.ends_at > timezone($tz, d.day::timestamp)
        ) as in_promo
    from days as d
    left join paid as p on p.day = d.day
    left join created as c on c.day = d.day
    left join refunds as r on r.day = d.day
    left join traffic as t on t.day = d.day
)

select
    day, visitors, page_views, bounces,
    bounces / nullif(visitors, 0) as bounce_rate,
    add_to_cart, favorites, paid_orders, buyers, units, gmv,
    buyers / nullif(visitors, 0) as conversion_rate,
    gmv / nullif(buyers, 0) as aov,
    created_lines, cancelled_orders,
    cancelled_orders / nullif(created_lines, 0) as cancel_rate,
    refund_amount, in_promo
from joined
order by day
"""


def test_kpi_daily_equals_sql_aggregate_of_a_simulated_week(wh: Warehouse) -> None:
    tz = "Asia/Kolkata"  # UTC+05:30: local days start at 18:30 UTC
    shop = Shop(origin=t("2026-03-02T00:00Z"), lines_per_hour=60, skus=12, keywords=5)
    populate(wh.con, shop, 7 * 24)
    end = shop.origin + timedelta(days=7)
    for day in range(8):  # a day's hours at a time, as a backfill would
        start = shop.origin + timedelta(days=day)
        with wh.transaction():
            refresh_marts(wh, tz, hour_windows(start, min(end, start + timedelta(days=1)), tz))
    # `complete` comes from ops.coverage, not from the orders and traffic summed here
    mart = wh.frame("select * exclude (complete) from mart.kpi_daily order by day")
    plain = wh.frame(DAILY_SQL, {"tz": tz}).select(
        [pl.col(c).cast(d) for c, d in KPI_DAILY_SCHEMA.items()]
    )
    assert mart.height == 8  # the week spans eight local dates
    assert mart.get_column("in_promo").any()
    assert mart.get_column("refund_amount").sum() > 0
    assert_frame_equal(mart, plain)
