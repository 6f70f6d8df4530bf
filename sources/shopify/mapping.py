"""Small Shopify answers (products, inventory, discounts, ShopifyQL sessions) as export records.

These answers are one page of at most a few hundred nodes; orders, the big one, are mapped
in SQL (sql/shopify/).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

__all__ = [
    "SHOP_WIDE",
    "inventory_records",
    "product_records",
    "promotion_records",
    "return_reason",
    "shipment_records",
    "traffic_records",
]

SHOP_WIDE = "*"
"""The sku_id of traffic Shopify reports for the whole store, not per product."""

Record = dict[str, Any]


def _num(value: Any) -> float | None:
    return None if value is None or value == "" else float(value)


def product_records(nodes: list[dict[str, Any]], safety_stock: int) -> list[Record]:
    """One record per variant SKU; the list price is the compare-at price when one is set."""
    out = []
    for product in nodes:
        metafield = product.get("safetyStock") or {}
        stock = int(metafield["value"]) if metafield.get("value") else safety_stock
        for variant in product["variants"]["nodes"]:
            if not variant.get("sku"):
                continue
            out.append(
                {
                    "sku_id": variant["sku"],
                    "title": product["title"],
                    "category": product.get("productType") or "",
                    "list_price": _num(variant.get("compareAtPrice")) or _num(variant["price"]),
                    "lowest_price_90d": None,
                    "safety_stock": stock,
                    "updated_at": product["updatedAt"],
                }
            )
    return out


def inventory_records(nodes: list[dict[str, Any]], snapshot_at: datetime) -> list[Record]:
    """Available and committed units summed over locations, one record per SKU."""
    totals: dict[str, list[int]] = {}
    for variant in nodes:
        sku = variant.get("sku")
        if not sku:
            continue
        total = totals.setdefault(sku, [0, 0])
        for level in variant["inventoryItem"]["inventoryLevels"]["nodes"]:
            q = {x["name"]: int(x["quantity"]) for x in level["quantities"]}
            total[0] += q.get("available", 0) + q.get("committed", 0)
            total[1] += q.get("committed", 0)
    stamp = snapshot_at.isoformat()
    return [
        {"snapshot_at": stamp, "sku_id": sku, "warehouse": "all", "on_hand": t[0], "reserved": t[1]}
        for sku, t in sorted(totals.items())
    ]


def _promo_id(node: dict[str, Any]) -> str:
    discount = node["discount"]
    codes = (discount.get("codes") or {}).get("nodes") or []
    return str(codes[0]["code"]) if codes else str(discount["title"])


def promotion_records(nodes: list[dict[str, Any]]) -> list[Record]:
    """Automatic and code discounts as promotions: amount/percentage off, minimum, BXGY."""
    out = []
    for node in nodes:
        discount = node["discount"]
        kind_name = discount.get("__typename", "")
        if kind_name not in (
            "DiscountAutomaticBasic",
            "DiscountCodeBasic",
            "DiscountAutomaticBxgy",
            "DiscountCodeBxgy",
        ):
            continue
        gets = discount.get("customerGets") or {}
        value = gets.get("value") or {}
        minimum = (discount.get("minimumRequirement") or {}).get("greaterThanOrEqualToSubtotal")
        percentage = value.get("percentage")
        if percentage is None and value.get("effect"):
            percentage = value["effect"].get("percentage")
        amount = _num((value.get("amount") or {}).get("amount"))
        each = bool(value.get("appliesOnEachItem"))
        variants = ((gets.get("items") or {}).get("productVariants") or {}).get("nodes") or []
        items = []
        for variant in variants:
            price = _num(variant.get("price"))
            if not variant.get("sku") or price is None:
                continue
            if percentage is not None:
                promo_price: float | None = round(price * (1 - float(percentage)), 2)
            elif amount is not None and each:
                promo_price = round(max(0.0, price - amount), 2)
            else:
                promo_price = None
            items.append(
                {"sku_id": variant["sku"], "promo_price": promo_price, "stock_commitment": None}
            )
        threshold = _num(minimum["amount"]) if minimum else None
        full_reduction = threshold is not None and amount is not None and not each
        out.append(
            {
                "promo_id": _promo_id(node),
                "name": discount["title"],
                "kind": "full_reduction" if full_reduction else "discount",
                "starts_at": discount["startsAt"],
                "ends_at": discount.get("endsAt"),
                "threshold_amount": threshold,
                "discount_amount": amount if full_reduction else None,
                "items": items,
                "updated_at": discount["updatedAt"],
                "shopify_type": kind_name,
                "percentage": percentage,
            }
        )
    return out


def _utc_hour(value: str) -> str:
    """ShopifyQL's `hour` (`yyyy-MM-ddThh`, in the query's UTC) as an instant with offset."""
    if len(value) == 13 and value[10] == "T":
        return f"{value}:00:00Z"
    return value


def traffic_records(table: dict[str, Any]) -> list[Record]:
    """ShopifyQL `sessions` rows (hour, referrer source) as shop-wide traffic records."""
    names = [c["name"] for c in table["columns"]]
    out = []
    for row in table["rows"]:
        values = row if isinstance(row, dict) else dict(zip(names, row, strict=False))
        sessions = int(values.get("sessions") or 0)
        visitors = values.get("online_store_visitors")
        rate = _num(values.get("bounce_rate"))
        out.append(
            {
                "hour": _utc_hour(str(values["hour"])),
                "source": str(values.get("referrer_source") or "unknown").lower(),
                "sku_id": SHOP_WIDE,
                "visitors": int(visitors if visitors is not None else sessions),
                "page_views": int(values.get("pageviews") or 0),
                "bounces": round(rate * sessions) if rate is not None else 0,
                "add_to_cart": int(values.get("sessions_with_cart_additions") or 0),
                # Shopify has no wishlist: favorites are not provided and read 0
                "favorites": 0,
                "sessions": sessions,
            }
        )
    return out


# Shopify's ReturnReason values onto the reasons the other sources use; the rest lower-cased
_RETURN_REASONS = {
    "SIZE_TOO_SMALL": "size_fit",
    "SIZE_TOO_LARGE": "size_fit",
    "DEFECTIVE": "quality",
    "NOT_AS_DESCRIBED": "not_as_described",
}
_SKIPPED_RETURNS = ("CANCELED", "DECLINED")


def return_reason(reason: str | None, note: str | None) -> str:
    """A return line item's reason: OTHER by its note (`Wrong address` → wrong_address)."""
    if reason == "OTHER" and note and note.strip():
        return "_".join(note.strip().lower().split())
    if not reason:
        return "unknown"
    return _RETURN_REASONS.get(reason, reason.lower())


def shipment_records(nodes: list[dict[str, Any]]) -> list[Record]:
    """One record per order with a fulfillment deadline: promised by the earliest
    `fulfillBy`, shipped at the first fulfillment, returned at the first live return."""
    out = []
    for order in nodes:
        promised = [
            f["fulfillBy"] for f in order["fulfillmentOrders"]["nodes"] if f.get("fulfillBy")
        ]
        if not promised:
            continue  # no deadline set for it: nothing promised to measure against
        shipped = [
            f["createdAt"]
            for f in order.get("fulfillments") or []
            if f.get("status") not in ("CANCELLED", "ERROR", "FAILURE")
        ]
        returns = sorted(
            (r for r in order["returns"]["nodes"] if r.get("status") not in _SKIPPED_RETURNS),
            key=lambda r: _instant(r["createdAt"]),
        )
        reason = None
        if returns:
            lines = returns[0]["returnLineItems"]["nodes"] or [{}]
            reason = return_reason(lines[0].get("returnReason"), lines[0].get("returnReasonNote"))
        out.append(
            {
                "order_id": str(order["name"]).lstrip("#"),
                "promised_ship_by": min(promised, key=_instant),
                "shipped_at": min(shipped, key=_instant) if shipped else None,
                "returned_at": returns[0]["createdAt"] if returns else None,
                "return_reason": reason,
                "updated_at": order["updatedAt"],
            }
        )
    return out


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
