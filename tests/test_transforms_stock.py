"""Stock cover against literal inventory, sales and promotions worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
from polars.testing import assert_frame_equal

from transforms import STOCK_COVER_SCHEMA, stock_cover

TS = pl.Datetime("us", "UTC")
AS_OF = "2026-11-11T12:00+08:00"


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def snap(at: str, sku: str, warehouse: str, on_hand: int, reserved: int) -> dict[str, object]:
    return {
        "snapshot_at": t(at),
        "sku_id": sku,
        "warehouse": warehouse,
        "on_hand": on_hand,
        "reserved": reserved,
    }


INVENTORY = pl.DataFrame(
    [
        snap("2026-11-11T10:00+08:00", "A", "WH1", 100, 0),  # older snapshot: superseded
        snap("2026-11-11T11:00+08:00", "A", "WH1", 64, 3),
        snap("2026-11-11T11:00+08:00", "A", "WH2", 20, 1),
        snap("2026-11-11T13:00+08:00", "A", "WH1", 5, 0),  # after as_of: not known yet
        snap("2026-11-11T11:00+08:00", "B", "WH1", 30, 0),
        snap("2026-11-11T11:00+08:00", "C", "WH1", 2, 2),
        snap("2026-11-11T11:00+08:00", "E", "WH1", 10, 0),
    ],
    schema={
        "snapshot_at": TS,
        "sku_id": pl.String,
        "warehouse": pl.String,
        "on_hand": pl.Int64,
        "reserved": pl.Int64,
    },
)

PAID = pl.DataFrame(
    [
        ("A", 100, t("2026-11-10T11:59+08:00")),  # before the 24 h window
        ("A", 40, t("2026-11-10T12:00+08:00")),  # first instant of the window
        ("A", 8, t("2026-11-11T11:59+08:00")),
        ("A", 7, t("2026-11-11T12:00+08:00")),  # at as_of: after the window
        ("C", 5, t("2026-11-11T09:00+08:00")),
        ("E", 12, t("2026-11-11T06:00+08:00")),
    ],
    schema={"sku_id": pl.String, "quantity": pl.Int64, "paid_at": TS},
    orient="row",
)

PROMOTIONS = pl.DataFrame(
    [
        ("P0", t("2026-11-10T00:00+08:00"), t("2026-11-11T11:00+08:00")),  # over
        ("P1", t("2026-11-11T00:00+08:00"), t("2026-11-12T00:00+08:00")),  # active
        ("P2", t("2026-11-11T22:00+08:00"), t("2026-11-12T22:00+08:00")),  # starts in 10 h
        ("P3", t("2026-11-12T18:00+08:00"), t("2026-11-13T18:00+08:00")),  # starts in 30 h
    ],
    schema={"promo_id": pl.String, "starts_at": TS, "ends_at": TS},
    orient="row",
)

ITEMS = pl.DataFrame(
    [("P0", "B"), ("P1", "A"), ("P1", "D"), ("P2", "D"), ("P2", "B"), ("P3", "E")],
    schema={"promo_id": pl.String, "sku_id": pl.String},
    orient="row",
)


def test_stock_cover() -> None:
    result = stock_cover(INVENTORY, PAID, PROMOTIONS, ITEMS, t(AS_OF))
    snapshot = t("2026-11-11T11:00+08:00")
    p1 = ("P1", t("2026-11-11T00:00+08:00"), t("2026-11-12T00:00+08:00"))
    p2 = ("P2", t("2026-11-11T22:00+08:00"), t("2026-11-12T22:00+08:00"))
    none = (None, None, None)
    rows = [
        # 80 available (61 + 19) at 48 units / 24 h: 40 h of cover
        ("A", snapshot, 80, 2.0, 40.0, t("2026-11-13T04:00+08:00"), *p1, None),
        # no sales: cover unbounded, stored as null with the reason; upcoming promotion
        ("B", snapshot, 30, 0.0, None, None, *p2, "no sales in the last 24 h: cover unbounded"),
        # reserved takes all on hand: out of stock now
        ("C", snapshot, 0, 5 / 24, 0.0, t(AS_OF), *none, "out of stock"),
        # in a promotion but not in the inventory export; the active promotion wins
        ("D", None, None, 0.0, None, None, *p1, "no inventory snapshot"),
        # its promotion starts beyond the 24 h lookahead
        ("E", snapshot, 10, 0.5, 20.0, t("2026-11-12T08:00+08:00"), *none, None),
    ]
    want = pl.DataFrame([(t(AS_OF), *row) for row in rows], schema=STOCK_COVER_SCHEMA, orient="row")
    assert_frame_equal(result, want)


def test_stock_cover_velocity_window_is_a_parameter() -> None:
    result = stock_cover(INVENTORY, PAID, PROMOTIONS, ITEMS, t(AS_OF), velocity_hours=1)
    a = result.filter(pl.col("sku_id") == "A").row(0, named=True)
    # only the 8 units of 11:59 fall in the last hour
    assert (a["velocity_per_hour"], a["hours_of_cover"]) == (8.0, 10.0)
