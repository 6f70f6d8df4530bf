"""Literal export records in the shape DESIGN.md §12 shows, with overridable fields."""

from __future__ import annotations

from typing import Any


def order(order_id: str = "T1", **over: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "order_id": order_id,
        "buyer_id": "U1",
        "sku_id": "SKU1",
        "quantity": 2,
        "unit_price": "89.90",
        "pay_amount": 179.8,
        "status": "paid",
        "source": "search",
        "promo_id": None,
        "created_at": "2026-11-11T10:03:12+08:00",
        "paid_at": "2026-11-11T10:04:40+08:00",
        "updated_at": "2026-11-11T10:04:40+08:00",
    }
    record.update(over)
    return record


def traffic(hour: str = "2026-11-11T10:00:00+08:00", **over: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "hour": hour,
        "source": "search",
        "sku_id": "SKU1",
        "visitors": 400,
        "page_views": 1000,
        "bounces": 100,
        "add_to_cart": 40,
        "favorites": 20,
    }
    record.update(over)
    return record


def traffic_row(hour: Any, source: str, sku_id: str, visitors: int) -> dict[str, Any]:
    """A core traffic row whose other measures follow from its visitors."""
    return {
        "hour": hour,
        "source": source,
        "sku_id": sku_id,
        "visitors": visitors,
        "page_views": visitors * 2,
        "bounces": visitors // 3,
        "add_to_cart": visitors // 10,
        "favorites": visitors // 20,
    }


def promotion(promo_id: str = "P1", **over: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "promo_id": promo_id,
        "name": "flash",
        "kind": "flash_sale",
        "starts_at": "2026-11-11T00:00:00+08:00",
        "ends_at": "2026-11-11T12:00:00+08:00",
        "threshold_amount": None,
        "discount_amount": None,
        "items": [{"sku_id": "SKU1", "promo_price": 89.9, "stock_commitment": 200}],
        "updated_at": "2026-11-09T18:00:00+08:00",
    }
    record.update(over)
    return record
