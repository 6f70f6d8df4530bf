"""RFM base and segments against literal buyers worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from transforms import RFM_SEGMENTS_SCHEMA, rfm_base, rfm_segments

TS = pl.Datetime("us", "UTC")
AS_OF = datetime.fromisoformat("2026-12-01T00:00+08:00")
ORDERS_SCHEMA = {
    "order_id": pl.String,
    "buyer_id": pl.String,
    "pay_amount": pl.Float64,
    "status": pl.String,
    "paid_at": TS,
}


def purchases(buyer: str, last_day: str, count: int, total: float) -> list[dict[str, Any]]:
    """`count` orders summing to `total`, the last paid on `last_day` (Shanghai time)."""
    last = datetime.fromisoformat(f"{last_day}T23:59+08:00").astimezone(UTC)
    return [
        {
            "order_id": f"{buyer}-{n}",
            "buyer_id": buyer,
            "pay_amount": total / count,
            "status": "completed",
            "paid_at": last.replace(day=1) if n else last,
        }
        for n in range(count)
    ]


ORDERS = pl.DataFrame(
    [
        *purchases("B1", "2026-11-30", 5, 500.0),
        *purchases("B2", "2026-11-28", 1, 100.0),
        *purchases("B3", "2026-05-15", 4, 900.0),
        *purchases("B4", "2026-10-22", 2, 50.0),
        *purchases("B5", "2026-02-04", 3, 80.0),
        # older than 365 days, cancelled, refunded, unpaid, or at as_of: none counts
        {
            "order_id": "X1",
            "buyer_id": "B5",
            "pay_amount": 999.0,
            "status": "completed",
            "paid_at": datetime(2025, 11, 1, tzinfo=UTC),
        },
        {
            "order_id": "X2",
            "buyer_id": "B1",
            "pay_amount": 999.0,
            "status": "refunded",
            "paid_at": datetime(2026, 11, 2, tzinfo=UTC),
        },
        {
            "order_id": "X3",
            "buyer_id": "B6",
            "pay_amount": 999.0,
            "status": "cancelled",
            "paid_at": datetime(2026, 11, 2, tzinfo=UTC),
        },
        {
            "order_id": "X4",
            "buyer_id": "B7",
            "pay_amount": 5.0,
            "status": "created",
            "paid_at": None,
        },
        {
            "order_id": "X5",
            "buyer_id": "B8",
            "pay_amount": 5.0,
            "status": "paid",
            "paid_at": AS_OF.astimezone(UTC),
        },
    ],
    schema=ORDERS_SCHEMA,
)


def test_rfm_segments() -> None:
    result = rfm_segments(rfm_base(ORDERS, AS_OF), AS_OF, "Asia/Shanghai")
    # five distinct values each: the quintile score is the rank (5 = most recent/most/highest)
    rows = [
        ("B1", 1, 5, 500.0, 5, 5, 4, "high_value"),
        ("B2", 3, 1, 100.0, 4, 1, 3, "potential"),
        ("B3", 200, 4, 900.0, 2, 4, 5, "at_risk"),
        ("B4", 40, 2, 50.0, 3, 2, 1, "need_attention"),
        ("B5", 300, 3, 80.0, 1, 3, 2, "churned"),
    ]
    want = pl.DataFrame(
        [(AS_OF.astimezone(UTC), *row) for row in rows], schema=RFM_SEGMENTS_SCHEMA, orient="row"
    )
    assert_frame_equal(result, want)


@pytest.mark.parametrize(
    ("values", "scores"),
    [
        ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]),
        # ties share the score of their lowest rank: one-time buyers are all frequency 1
        ([1, 1, 1, 1, 1, 1, 1, 2, 2, 3], [1, 1, 1, 1, 1, 1, 1, 4, 4, 5]),
        ([7], [1]),
    ],
)
def test_frequency_quintiles(values: list[int], scores: list[int]) -> None:
    base = pl.DataFrame(
        {
            "buyer_id": [f"B{n:02d}" for n in range(len(values))],
            "last_paid_at": [AS_OF.astimezone(UTC)] * len(values),
            "frequency": values,
            "monetary": [1.0] * len(values),
        },
        schema={
            "buyer_id": pl.String,
            "last_paid_at": TS,
            "frequency": pl.Int64,
            "monetary": pl.Float64,
        },
    )
    result = rfm_segments(base, AS_OF, "Asia/Shanghai")
    assert result.get_column("f_score").to_list() == scores
