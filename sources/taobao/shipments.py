"""Shipments from TOP: the trades' promised and actual ship times, and their return refunds.

- taobao.trades.sold.increment.get (as for orders, by modified time) with the sub-orders'
  `est_con_time` (the seller's promised ship time, 发货时效), `consign_time` (when shipped)
  and `refund_id` / `refund_status`;
- taobao.refunds.receive.get (退款, by modified time) for the refunds of the same window, and
  taobao.refund.get for a refund a trade names that the window did not list. A refund with
  `has_good_return` (退货退款) is a return: `created` is when the buyer asked, `reason` why.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from sources.taobao.client import TopClient, iso_from_top, top_list, top_time
from sources.taobao.trades import windows

__all__ = [
    "REFUNDS_METHOD",
    "REFUND_FIELDS",
    "REFUND_METHOD",
    "SHIPMENT_FIELDS",
    "fetch_refunds",
    "pending_refunds",
    "refund",
    "return_reason",
    "returns_of",
    "shipment_records",
]

SHIPMENT_FIELDS = (
    "tid,modified,consign_time,orders.oid,orders.est_con_time,orders.consign_time,"
    "orders.refund_id,orders.refund_status"
)
REFUNDS_METHOD = "taobao.refunds.receive.get"
REFUND_METHOD = "taobao.refund.get"
REFUND_FIELDS = "refund_id,tid,oid,status,created,modified,reason,has_good_return"
PAGE_SIZE = 100
# a refund that ended without money back (closed, or refused) is no return
NOT_RETURNED = frozenset({"CLOSED", "SELLER_REFUSE_BUYER"})
NO_REFUND = frozenset({"", "NO_REFUND", "CLOSED"})
# the buyer's 退款原因 (free text, as Taobao offers it) onto the reasons the other sources
# use: the first entry whose words appear in it; any other reason is kept as written
REASONS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("地址",), "wrong_address"),
    (("尺码", "尺寸", "大小"), "size_fit"),
    (("破损", "损坏", "压坏"), "damaged"),
    (("质量",), "quality"),
    (("描述不符", "与描述", "不符"), "not_as_described"),
    (("其他", "其它"), "other"),
)


def return_reason(text: Any) -> str:
    """A Taobao refund reason as a shoppulse return reason."""
    reason = str(text or "").strip()
    for words, mapped in REASONS:
        if any(w in reason for w in words):
            return mapped
    return reason or "unknown"


def fetch_refunds(
    client: TopClient, since: datetime | None, until: datetime
) -> Iterator[list[dict[str, Any]]]:
    """Refunds of the seller's trades modified in [since, until), one list per page."""
    for start, end in windows(since, until):
        page_no = 1
        while True:
            body = client.call(
                REFUNDS_METHOD,
                {
                    "fields": REFUND_FIELDS,
                    "start_modified": top_time(start),
                    "end_modified": top_time(end - timedelta(seconds=1)),
                    "page_no": str(page_no),
                    "page_size": str(PAGE_SIZE),
                    "use_has_next": "true",
                },
                dataset="shipments",
            )
            found = top_list(body.get("refunds"), "refund")
            if found:
                yield found
            if not found or not body.get("has_next"):
                break
            page_no += 1


def refund(client: TopClient, refund_id: str) -> dict[str, Any] | None:
    """One refund by id (taobao.refund.get)."""
    body = client.call(
        REFUND_METHOD, {"fields": REFUND_FIELDS, "refund_id": refund_id}, dataset="shipments"
    )
    found = body.get("refund")
    return found if isinstance(found, dict) else None


def returns_of(refunds: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per trade id, its earliest refund that returns goods and was not closed or refused."""
    out: dict[str, dict[str, Any]] = {}
    for r in refunds:
        if not _is_return(r):
            continue
        tid = str(r.get("tid"))
        if tid not in out or str(r.get("created")) < str(out[tid].get("created")):
            out[tid] = r
    return out


def _is_return(r: dict[str, Any]) -> bool:
    good = r.get("has_good_return")
    return (good is True or str(good).lower() == "true") and r.get("status") not in NOT_RETURNED


def pending_refunds(trades: list[dict[str, Any]], known: dict[str, dict[str, Any]]) -> list[str]:
    """Refund ids the trades name whose return is not among `known` (by trade)."""
    out = []
    for trade in trades:
        if str(trade.get("tid")) in known:
            continue
        for order in top_list(trade.get("orders"), "order"):
            if order.get("refund_id") and str(order.get("refund_status") or "") not in NO_REFUND:
                out.append(str(order["refund_id"]))
    return out


def shipment_records(
    trades: list[dict[str, Any]], returns: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """The export-API shipment records (DESIGN.md §3) of trades: one per trade that carries a
    promised ship time (the earliest of its sub-orders' `est_con_time`)."""
    out = []
    for trade in trades:
        orders = top_list(trade.get("orders"), "order")
        promised = sorted(str(o["est_con_time"]) for o in orders if o.get("est_con_time"))
        if not promised:
            continue  # no 发货时效 on it: nothing promised to measure against
        shipped = sorted(str(o["consign_time"]) for o in orders if o.get("consign_time"))
        consigned = trade.get("consign_time") or (shipped[0] if shipped else None)
        back = returns.get(str(trade.get("tid")))
        if back is not None and str(back.get("created")) > str(trade.get("modified")):
            back = None  # a snapshot of the trade from before the buyer asked to return
        out.append(
            {
                "order_id": _id(trade.get("tid")),
                "promised_ship_by": iso_from_top(promised[0]),
                "shipped_at": iso_from_top(consigned),
                "returned_at": iso_from_top(back.get("created")) if back else None,
                "return_reason": return_reason(back.get("reason")) if back else None,
                "updated_at": iso_from_top(trade.get("modified")),
                "refund_id": back.get("refund_id") if back else None,
                "top_reason": back.get("reason") if back else None,
            }
        )
    return out


def _id(value: Any) -> str:
    return "" if value is None else str(value)
