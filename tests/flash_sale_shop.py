"""A shop of three SKUs on a real DuckDB warehouse: 14 plain days of four evening hours, then
a first flash sale on SKU A, for conversion_drop's tests in and around a promotion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from flows.rules_runner import evaluate_hour
from flows.settings import Settings, parse_settings
from flows.warehouse import Warehouse
from flows.warehouse.coverage import record_coverage
from flows.warehouse.marts import refresh_marts
from tests.factories import traffic_row
from transforms.cancellations import local_days_back

TZ = "Asia/Shanghai"
HOUR = timedelta(hours=1)
# the evaluated hour, 20:00-21:00 in Shanghai
H = datetime(2026, 11, 11, 12, tzinfo=UTC)
END = H + HOUR
TS = pl.Datetime("us", "UTC")
# per SKU: visitors an hour and buyers an hour on a plain day (3% conversion). A is the one
# the shop's first flash sale puts on offer; B and C are outside it
PLAIN = {"A": (1000, 30), "B": (2000, 60), "C": (2000, 60)}


class Shop:
    """Traffic and paid orders per SKU (one source, search) of the 17:00-21:00 local hours."""

    def __init__(self) -> None:
        self.orders: list[dict[str, Any]] = []
        self.traffic: list[dict[str, Any]] = []
        self.n = 0

    def hour(self, start: datetime, skus: dict[str, tuple[int, int]]) -> None:
        for sku, (visitors, buyers) in skus.items():
            self.traffic.append(traffic_row(start, "search", sku, visitors))
            for i in range(buyers):
                self.n += 1
                self._line(sku, f"U{self.n:06d}", start + timedelta(minutes=1 + i % 55))

    def basket(self, start: datetime, buyer: str, skus: list[str]) -> None:
        """One order of `buyer` paid in the hour, a line for each SKU."""
        self.n += 1
        for sku in skus:
            self._line(sku, buyer, start + timedelta(minutes=30))

    def _line(self, sku: str, buyer: str, paid: datetime) -> None:
        """A paid line of order number `n`, from search, at list price."""
        self.orders.append(
            {
                "order_id": f"T{self.n:06d}",
                "sku_id": sku,
                "buyer_id": buyer,
                "quantity": 1,
                "unit_price": 100.0,
                "pay_amount": 100.0,
                "status": "paid",
                "source": "search",
                "promo_id": None,
                "created_at": paid - timedelta(minutes=1),
                "paid_at": paid,
                "updated_at": paid,
            }
        )


def baseline(data: Shop, today: tuple[int, ...] = (3, 2, 1)) -> None:
    """14 plain days of the four hours up to H's local hour, and today's hours `today` back
    from H; conversion wobbles a little from day to day."""
    for day in range(14, 0, -1):
        wobble = (day % 3 - 1) * 2
        for back in (3, 2, 1, 0):
            data.hour(
                local_days_back(H, day, TZ) - back * HOUR,
                {sku: (v, b + wobble * b // 30) for sku, (v, b) in PLAIN.items()},
            )
    for back in today:
        data.hour(H - back * HOUR, PLAIN)


def write(wh: Warehouse, table: str, rows: list[dict[str, Any]]) -> None:
    wh.con.register("_rows", pl.DataFrame(rows, infer_schema_length=None).to_arrow())
    wh.execute(f"insert into {table} by name select * from _rows")
    wh.con.unregister("_rows")


def load(wh: Warehouse, data: Shop, flash_from: datetime) -> None:
    """The shop's rows, and its first flash sale (SKU A) from `flash_from` for 12 hours."""
    write(wh, "core.orders", data.orders)
    write(wh, "core.traffic", data.traffic)
    published = H - timedelta(days=2)
    write(
        wh,
        "core.promotions",
        [
            {
                "promo_id": "F1",
                "name": "flash sale",
                "kind": "flash_sale",
                "starts_at": flash_from,
                "ends_at": flash_from + 12 * HOUR,
                "threshold_amount": None,
                "discount_amount": None,
                "updated_at": published,
            }
        ],
    )
    write(
        wh,
        "core.promotion_items",
        [{"promo_id": "F1", "sku_id": "A", "promo_price": 70.0, "stock_commitment": 0}],
    )
    hours = pl.Series([t["hour"] for t in data.traffic], dtype=TS).unique()
    with wh.transaction():
        for hour in hours:
            for dataset in ("orders", "traffic"):
                record_coverage(wh, dataset, hour, hour + HOUR, "test")
        refresh_marts(wh, TZ, hours)


def settings(path: Path, *, off_promotion: bool = True) -> Settings:
    return parse_settings(
        {
            "shop": {"name": "demo", "timezone": TZ},
            "source": {"base_url": "http://127.0.0.1:9"},
            "warehouse": {"path": str(path)},
            "rules": {"conversion_drop": {"off_promotion": off_promotion}},
        },
        env={},
    )


def drops(
    wh: Warehouse, config: Settings, hour: datetime
) -> dict[tuple[tuple[str, str], ...], Any]:
    alerts, _ = evaluate_hour(wh, config, hour)
    return {tuple(sorted(a.labels.items())): a for a in alerts if a.alertname == "conversion_drop"}
