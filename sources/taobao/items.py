"""Items and SKUs from TOP: listing status, price, quantity and the seller's own SKU code.

taobao.items.onsale.get and taobao.items.inventory.get list the shop's items (on sale, and in
the warehouse); taobao.items.seller.list.get reads up to 20 of them at a time with their SKUs.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from sources.taobao.client import CHINA, TopClient, iso_from_top, top_list

__all__ = ["fetch_items", "inventory_records", "live_snapshot", "product_records"]

LIST_METHODS = ("taobao.items.onsale.get", "taobao.items.inventory.get")
DETAIL_METHOD = "taobao.items.seller.list.get"
LIST_PAGE_SIZE = 200
DETAIL_BATCH = 20
ITEM_FIELDS = (
    "num_iid,title,cid,approve_status,price,num,outer_id,modified,"
    "sku.sku_id,sku.outer_id,sku.price,sku.quantity,sku.with_hold_quantity,sku.modified,"
    "sku.properties_name,sku.status"
)
WAREHOUSE = "taobao"


def fetch_items(client: TopClient, dataset: str) -> Iterator[list[dict[str, Any]]]:
    """Every item of the shop with its SKUs, in batches of up to 20."""
    ids: list[str] = []
    for method in LIST_METHODS:
        page_no = 1
        while True:
            body = client.call(
                method,
                {"fields": "num_iid", "page_no": str(page_no), "page_size": str(LIST_PAGE_SIZE)},
                dataset=dataset,
            )
            found = top_list(body.get("items"), "item")
            ids += [str(i["num_iid"]) for i in found if i.get("num_iid") is not None]
            total = int(body.get("total_results") or 0)
            if not found or page_no * LIST_PAGE_SIZE >= total:
                break
            page_no += 1
    for at in range(0, len(ids), DETAIL_BATCH):
        body = client.call(
            DETAIL_METHOD,
            {"fields": ITEM_FIELDS, "num_iids": ",".join(ids[at : at + DETAIL_BATCH])},
            dataset=dataset,
        )
        items = top_list(body.get("items"), "item")
        if items:
            yield items


def _skus(item: dict[str, Any]) -> list[dict[str, Any]]:
    skus = top_list(item.get("skus"), "sku")
    if skus:
        return skus
    # an item without SKUs sells as one: its own price, quantity and code
    return [
        {
            "sku_id": None,
            "outer_id": item.get("outer_id"),
            "price": item.get("price"),
            "quantity": item.get("num"),
            "with_hold_quantity": 0,
            "modified": item.get("modified"),
        }
    ]


def _sku_code(item: dict[str, Any], sku: dict[str, Any]) -> str:
    if sku.get("outer_id"):
        return str(sku["outer_id"])
    return f"{item.get('num_iid', '')}:{sku.get('sku_id') or ''}"


def product_records(items: list[dict[str, Any]], safety_stock: int) -> list[dict[str, Any]]:
    """The export-API product records (DESIGN.md §3) of items, one per SKU."""
    out = []
    for item in items:
        for sku in _skus(item):
            out.append(
                {
                    "sku_id": _sku_code(item, sku),
                    "title": item.get("title"),
                    "category": str(item.get("cid") or ""),
                    "list_price": sku.get("price"),
                    "lowest_price_90d": None,
                    "safety_stock": safety_stock,
                    "updated_at": iso_from_top(
                        max(str(sku.get("modified") or ""), str(item.get("modified") or ""))
                    ),
                    "num_iid": item.get("num_iid"),
                    "top_sku_id": sku.get("sku_id"),
                    "listing_status": item.get("approve_status"),
                }
            )
    return out


def inventory_records(items: list[dict[str, Any]], snapshot_at: datetime) -> list[dict[str, Any]]:
    """Inventory records of items: TOP's quantity is what can still be sold; unpaid orders
    hold `with_hold_quantity` on top of it."""
    at = snapshot_at.astimezone(CHINA).isoformat()
    out = []
    for item in items:
        for sku in _skus(item):
            free = int(sku.get("quantity") or 0)
            held = int(sku.get("with_hold_quantity") or 0)
            out.append(
                {
                    "snapshot_at": at,
                    "sku_id": _sku_code(item, sku),
                    "warehouse": WAREHOUSE,
                    "on_hand": free + held,
                    "reserved": held,
                }
            )
    return out


def live_snapshot(until: datetime, now: datetime) -> datetime | None:
    """The hour a stock reading taken now stands for, or None when `until` is not now.

    TOP only tells today's stock: a run for a past hour (a backfill, a replay) gets none.
    """
    if not timedelta(0) <= now - until <= timedelta(hours=2):
        return None
    return until - timedelta(hours=1)
