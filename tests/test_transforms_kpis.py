"""KPI transforms against a few literal rows whose answers were worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from transforms import (
    KPI_DAILY_SCHEMA,
    KPI_HOURLY_BY_SOURCE_SCHEMA,
    KPI_HOURLY_SCHEMA,
    SKU_HOURLY_SCHEMA,
    kpi_daily,
    kpi_hourly,
    kpi_hourly_by_source,
    local_day_start,
    local_hour_start,
    sku_hourly,
)
from transforms.kpis import _bucket, money_sum

TS = pl.Datetime("us", "UTC")
ORDERS_SCHEMA = {
    "order_id": pl.String,
    "sku_id": pl.String,
    "buyer_id": pl.String,
    "quantity": pl.Int64,
    "pay_amount": pl.Float64,
    "status": pl.String,
    "source": pl.String,
    "promo_id": pl.String,
    "created_at": TS,
    "paid_at": TS,
    "updated_at": TS,
}
TRAFFIC_SCHEMA = {
    "hour": TS,
    "source": pl.String,
    "sku_id": pl.String,
    "visitors": pl.Int64,
    "page_views": pl.Int64,
    "bounces": pl.Int64,
    "add_to_cart": pl.Int64,
    "favorites": pl.Int64,
}
PROMOS_SCHEMA = {"promo_id": pl.String, "starts_at": TS, "ends_at": TS}
SHANGHAI = "Asia/Shanghai"


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def line(
    order_id: str,
    sku_id: str,
    buyer_id: str,
    quantity: int,
    amount: float,
    status: str,
    created: str,
    paid: str | None,
    updated: str | None = None,
    source: str = "search",
) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "sku_id": sku_id,
        "buyer_id": buyer_id,
        "quantity": quantity,
        "pay_amount": amount,
        "status": status,
        "source": source,
        "promo_id": None,
        "created_at": t(created),
        "paid_at": t(paid) if paid else None,
        "updated_at": t(updated or paid or created),
    }


def visit(
    hour: str,
    visitors: int,
    *,
    source: str = "search",
    sku_id: str = "S1",
    bounces: int = 0,
    add_to_cart: int = 0,
) -> dict[str, Any]:
    return {
        "hour": t(hour),
        "source": source,
        "sku_id": sku_id,
        "visitors": visitors,
        "page_views": visitors * 2,
        "bounces": bounces,
        "add_to_cart": add_to_cart,
        "favorites": 0,
    }


def orders(*rows: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=ORDERS_SCHEMA)


def traffic(*rows: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=TRAFFIC_SCHEMA)


def hours(*texts: str) -> pl.Series:
    return pl.Series("hour", [t(x) for x in texts], dtype=TS)


def expected(rows: list[dict[str, Any]], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    columns = list(rows[0])
    return pl.DataFrame(rows, schema={c: schema[c] for c in columns})


NO_PROMOS = pl.DataFrame(schema=PROMOS_SCHEMA)
H10 = "2026-11-11T10:00:00+08:00"

HOURLY_CASES = {
    "zero visitors: rates null, never inf or NaN": (
        orders(),
        traffic(),
        [H10],
        [
            {
                "hour": t(H10),
                "visitors": 0,
                "buyers": 0,
                "gmv": 0.0,
                "bounce_rate": None,
                "conversion_rate": None,
                "aov": None,
                "cancel_rate": None,
            }
        ],
    ),
    "traffic and no orders": (
        orders(),
        traffic(visit(H10, 200, bounces=50, add_to_cart=20)),
        [H10],
        [
            {
                "hour": t(H10),
                "visitors": 200,
                "add_to_cart": 20,
                "buyers": 0,
                "gmv": 0.0,
                "bounce_rate": 0.25,
                "conversion_rate": 0.0,
                "aov": None,
                "cancel_rate": None,
            }
        ],
    ),
    "one buyer paying for several SKUs and orders is one buyer": (
        orders(
            line(
                "O1",
                "S1",
                "B1",
                2,
                100.0,
                "paid",
                "2026-11-11T10:01+08:00",
                "2026-11-11T10:05+08:00",
            ),
            line(
                "O1",
                "S2",
                "B1",
                1,
                30.0,
                "paid",
                "2026-11-11T10:01+08:00",
                "2026-11-11T10:05+08:00",
            ),
            line(
                "O2",
                "S3",
                "B1",
                1,
                20.0,
                "shipped",
                "2026-11-11T10:39+08:00",
                "2026-11-11T10:40+08:00",
            ),
        ),
        traffic(visit(H10, 100)),
        [H10],
        [
            {
                "hour": t(H10),
                "paid_orders": 2,
                "buyers": 1,
                "units": 4,
                "gmv": 150.0,
                "conversion_rate": 0.01,
                "aov": 150.0,
                "created_lines": 3,
            }
        ],
    ),
    "created in one hour, paid in the next": (
        orders(
            line(
                "O1",
                "S1",
                "B1",
                1,
                80.0,
                "paid",
                "2026-11-11T09:58+08:00",
                "2026-11-11T10:02+08:00",
            ),
        ),
        traffic(),
        ["2026-11-11T09:00:00+08:00", H10],
        [
            {
                "hour": t("2026-11-11T09:00:00+08:00"),
                "created_lines": 1,
                "paid_orders": 0,
                "gmv": 0.0,
            },
            {"hour": t(H10), "created_lines": 0, "paid_orders": 1, "gmv": 80.0},
        ],
    ),
    "refund and cancellation recorded later belong to their own hours": (
        orders(
            line(
                "O1",
                "S1",
                "B1",
                1,
                100.0,
                "refunded",
                "2026-11-11T10:05+08:00",
                "2026-11-11T10:06+08:00",
                "2026-11-12T13:30+08:00",
            ),
            line(
                "O2",
                "S1",
                "B2",
                1,
                45.0,
                "cancelled",
                "2026-11-11T10:10+08:00",
                None,
                "2026-11-11T12:40+08:00",
            ),
            line(
                "O3",
                "S2",
                "B3",
                2,
                60.0,
                "completed",
                "2026-11-11T10:20+08:00",
                "2026-11-11T10:21+08:00",
                "2026-11-15T09:00+08:00",
            ),
        ),
        traffic(),
        [H10, "2026-11-11T12:00:00+08:00", "2026-11-12T13:00:00+08:00"],
        [
            {
                "hour": t(H10),
                "gmv": 160.0,
                "paid_orders": 2,
                "created_lines": 3,
                "cancelled_orders": 1,
                "cancel_rate": 1 / 3,
                "refund_amount": 0.0,
            },
            {
                "hour": t("2026-11-11T12:00:00+08:00"),
                "gmv": 0.0,
                "paid_orders": 0,
                "created_lines": 0,
                "cancelled_orders": 0,
                "cancel_rate": None,
                "refund_amount": 0.0,
            },
            {
                "hour": t("2026-11-12T13:00:00+08:00"),
                "gmv": 0.0,
                "paid_orders": 0,
                "created_lines": 0,
                "cancelled_orders": 0,
                "cancel_rate": None,
                "refund_amount": 100.0,
            },
        ],
    ),
}


@pytest.mark.parametrize("case", HOURLY_CASES.values(), ids=list(HOURLY_CASES))
def test_kpi_hourly(
    case: tuple[pl.DataFrame, pl.DataFrame, list[str], list[dict[str, Any]]],
) -> None:
    order_rows, traffic_rows, wanted, rows = case
    result = kpi_hourly(order_rows, traffic_rows, NO_PROMOS, hours(*wanted), SHANGHAI)
    want = expected(rows, KPI_HOURLY_SCHEMA)
    assert_frame_equal(result.select(want.columns), want)
    assert list(result.schema.items()) == list(KPI_HOURLY_SCHEMA.items())


def test_kpi_hourly_half_hour_offset() -> None:
    # India is UTC+05:30: its 10:00 hour starts at 04:30 UTC, and 10:29 / 10:31 share it
    paid = orders(
        line("O1", "S1", "B1", 1, 10.0, "paid", "2026-01-01T10:29+05:30", "2026-01-01T10:29+05:30"),
        line("O2", "S1", "B2", 1, 20.0, "paid", "2026-01-01T10:31+05:30", "2026-01-01T10:31+05:30"),
        line("O3", "S1", "B3", 1, 40.0, "paid", "2026-01-01T11:05+05:30", "2026-01-01T11:05+05:30"),
    )
    result = kpi_hourly(
        paid, traffic(), NO_PROMOS, hours("2026-01-01T04:30Z", "2026-01-01T05:30Z"), "Asia/Kolkata"
    )
    want = expected(
        [
            {"hour": t("2026-01-01T04:30Z"), "paid_orders": 2, "gmv": 30.0},
            {"hour": t("2026-01-01T05:30Z"), "paid_orders": 1, "gmv": 40.0},
        ],
        KPI_HOURLY_SCHEMA,
    )
    assert_frame_equal(result.select(want.columns), want)


def test_kpi_hourly_in_promo() -> None:
    promos = pl.DataFrame(
        [
            {
                "promo_id": "P1",
                "starts_at": t("2026-11-11T10:30+08:00"),
                "ends_at": t("2026-11-11T11:00+08:00"),
            }
        ],
        schema=PROMOS_SCHEMA,
    )
    result = kpi_hourly(
        orders(),
        traffic(),
        promos,
        hours("2026-11-11T09:00+08:00", H10, "2026-11-11T11:00+08:00"),
        SHANGHAI,
    )
    assert result.get_column("in_promo").to_list() == [False, True, False]


def test_kpi_hourly_by_source() -> None:
    paid = orders(
        line("O1", "S1", "B1", 1, 30.0, "paid", H10, "2026-11-11T10:10+08:00", source="search"),
        line("O2", "S1", "B2", 1, 20.0, "paid", H10, "2026-11-11T10:20+08:00", source="ads"),
        line("O3", "S2", "B3", 1, 10.0, "paid", H10, "2026-11-11T10:30+08:00", source="social"),
    )
    visits = traffic(
        visit(H10, 100, source="search"),
        visit(H10, 50, source="ads"),
        # another hour: its source must not appear as an empty row in the requested one
        visit("2026-11-11T11:00+08:00", 70, source="direct"),
    )
    result = kpi_hourly_by_source(paid, visits, NO_PROMOS, hours(H10), SHANGHAI)
    want = expected(
        [
            {
                "hour": t(H10),
                "source": "ads",
                "visitors": 50,
                "buyers": 1,
                "gmv": 20.0,
                "conversion_rate": 0.02,
            },
            {
                "hour": t(H10),
                "source": "search",
                "visitors": 100,
                "buyers": 1,
                "gmv": 30.0,
                "conversion_rate": 0.01,
            },
            {
                "hour": t(H10),
                "source": "social",
                "visitors": 0,
                "buyers": 1,
                "gmv": 10.0,
                "conversion_rate": None,
            },
        ],
        KPI_HOURLY_BY_SOURCE_SCHEMA,
    )
    assert_frame_equal(result.select(want.columns), want)


def test_sku_hourly() -> None:
    paid = orders(
        line("O1", "S1", "B1", 2, 100.0, "paid", H10, "2026-11-11T10:05+08:00"),
        line("O1", "S2", "B1", 1, 30.0, "paid", H10, "2026-11-11T10:05+08:00"),
        line("O2", "S1", "B2", 1, 50.0, "paid", H10, "2026-11-11T10:30+08:00"),
        # an unpaid, cancelled line shows nothing in sku_hourly
        line("O3", "S3", "B3", 1, 9.0, "cancelled", "2026-11-11T10:10+08:00", None),
    )
    visits = traffic(visit(H10, 80, sku_id="S1", add_to_cart=8), visit(H10, 10, sku_id="S4"))
    result = sku_hourly(paid, visits, hours(H10), SHANGHAI)
    want = pl.DataFrame(
        [
            {
                "hour": t(H10),
                "sku_id": "S1",
                "visitors": 80,
                "add_to_cart": 8,
                "units": 3,
                "gmv": 150.0,
                "buyers": 2,
            },
            {
                "hour": t(H10),
                "sku_id": "S2",
                "visitors": 0,
                "add_to_cart": 0,
                "units": 1,
                "gmv": 30.0,
                "buyers": 1,
            },
            {
                "hour": t(H10),
                "sku_id": "S4",
                "visitors": 10,
                "add_to_cart": 0,
                "units": 0,
                "gmv": 0.0,
                "buyers": 0,
            },
        ],
        schema=SKU_HOURLY_SCHEMA,
    )
    assert_frame_equal(result, want)


DAILY_CASES = {
    "rates from the day's base counts, buyers distinct over the day": (
        orders(
            line("O1", "S1", "B1", 1, 10.0, "paid", H10, "2026-11-11T10:05+08:00"),
            line("O2", "S1", "B1", 1, 20.0, "paid", H10, "2026-11-11T15:20+08:00"),
            line("O3", "S2", "B2", 1, 30.0, "paid", H10, "2026-11-11T15:30+08:00"),
        ),
        traffic(visit(H10, 100), visit("2026-11-11T15:00+08:00", 300)),
        SHANGHAI,
        [date(2026, 11, 11)],
        # hourly: 1/100 and 2/300; the day: 2 buyers / 400 visitors, not the mean of the rates
        [
            {
                "day": date(2026, 11, 11),
                "visitors": 400,
                "buyers": 2,
                "paid_orders": 3,
                "gmv": 60.0,
                "conversion_rate": 0.005,
                "aov": 30.0,
            }
        ],
    ),
    "half-hour offset: the day turns at 18:30 UTC": (
        orders(
            line(
                "O1",
                "S1",
                "B1",
                1,
                10.0,
                "paid",
                "2026-01-01T23:59+05:30",
                "2026-01-01T23:59+05:30",
            ),
            line(
                "O2",
                "S1",
                "B2",
                1,
                20.0,
                "paid",
                "2026-01-02T00:01+05:30",
                "2026-01-02T00:01+05:30",
            ),
        ),
        traffic(),
        "Asia/Kolkata",
        [date(2026, 1, 1), date(2026, 1, 2)],
        [
            {"day": date(2026, 1, 1), "buyers": 1, "gmv": 10.0, "conversion_rate": None},
            {"day": date(2026, 1, 2), "buyers": 1, "gmv": 20.0, "conversion_rate": None},
        ],
    ),
    "fall-back day has 25 hours, the repeated hour counted twice": (
        orders(),
        traffic(
            visit("2026-10-24T22:00Z", 1),  # 23:00 BST on the 24th
            visit("2026-10-24T23:00Z", 10),  # 00:00 BST on the 25th
            visit("2026-10-25T00:00Z", 100),  # 01:00 BST
            visit("2026-10-25T01:00Z", 1000),  # 01:00 GMT, the repeated hour
            visit("2026-10-25T23:00Z", 10000),  # 23:00 GMT on the 25th
        ),
        "Europe/London",
        [date(2026, 10, 25)],
        [{"day": date(2026, 10, 25), "visitors": 11110, "in_promo": False}],
    ),
}


@pytest.mark.parametrize("case", DAILY_CASES.values(), ids=list(DAILY_CASES))
def test_kpi_daily(
    case: tuple[pl.DataFrame, pl.DataFrame, str, list[date], list[dict[str, Any]]],
) -> None:
    order_rows, traffic_rows, tz, days, rows = case
    result = kpi_daily(order_rows, traffic_rows, NO_PROMOS, pl.Series(days), tz)
    want = expected(rows, KPI_DAILY_SCHEMA)
    assert_frame_equal(result.select(want.columns), want)
    assert list(result.schema.items()) == list(KPI_DAILY_SCHEMA.items())


@pytest.mark.parametrize(
    "tz",
    [
        "Asia/Shanghai",
        "Asia/Kolkata",
        "Asia/Kathmandu",
        "Europe/London",
        "Australia/Lord_Howe",
        "America/Santiago",
    ],
)
@pytest.mark.parametrize("grain", ["hour", "day"])
def test_bucket_matches_local_clock(tz: str, grain: str) -> None:
    # the fast per-offset-segment bucketing gives the same local hour/day as transforms.time,
    # across a year with DST changes (Lord Howe shifts by 30 minutes)
    rng = np.random.default_rng(7)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    seconds = np.sort(rng.integers(0, 365 * 86400, 20_000))
    instants = pl.DataFrame(
        {"at": [start + timedelta(seconds=int(s)) for s in seconds]}
    ).with_columns(pl.col("at").cast(TS))
    exact = (
        local_hour_start(pl.col("at"), tz) if grain == "hour" else local_day_start(pl.col("at"), tz)
    )
    truth = instants.with_columns(period=exact)
    fast = _bucket(instants, "at", truth.get_column("period").unique(), tz, grain)  # type: ignore[arg-type]
    assert_frame_equal(fast, truth)


def test_money_sum_does_not_depend_on_row_order() -> None:
    # 0.1 + 0.2 + 0.3 is 0.6000000000000001 in one order and 0.6 in the other: a backfill on
    # Dask and one on threads must still store the same GMV
    amounts = [0.1, 0.2, 0.3]
    sums = {
        pl.DataFrame({"pay_amount": order}).select(money_sum("pay_amount")).item()
        for order in (amounts, amounts[::-1])
    }
    assert sums == {0.6}
