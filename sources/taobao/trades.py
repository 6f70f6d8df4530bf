"""Orders from taobao.trades.sold.increment.get: one-day windows by modified time, paged back.

TOP documents for the call (查询卖家已卖出的增量交易数据, docs/sources/taobao.md cites the pages):
end_modified - start_modified may be at most one day; results come newest-modified first, and
reading the pages from the last one back avoids missing a trade whose modification moves it
while we page. We first ask for the count (page 1, one row), then read pages last..1.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sources.taobao.client import TopClient, iso_from_top, top_list, top_time
from sources.taobao.tables import STEP_PAID, core_status

__all__ = [
    "INCREMENT_METHOD",
    "PAGE_SIZE",
    "TRADE_FIELDS",
    "fetch_trades",
    "order_records",
    "windows",
]

INCREMENT_METHOD = "taobao.trades.sold.increment.get"
PAGE_SIZE = 100  # the call's maximum page_size
MAX_WINDOW = timedelta(days=1)
HISTORY = timedelta(days=90)  # TOP serves three months of trades
TRADE_FIELDS = (
    "tid,type,status,step_trade_status,buyer_open_uid,buyer_nick,created,pay_time,modified,"
    "payment,post_fee,orders.oid,orders.num_iid,orders.sku_id,orders.outer_sku_id,"
    "orders.outer_iid,orders.num,orders.price,orders.payment,orders.status,orders.refund_status"
)
UNATTRIBUTED = "unattributed"
CENT = Decimal("0.01")


def windows(since: datetime | None, until: datetime) -> list[tuple[datetime, datetime]]:
    """[since, until) cut into windows of at most one day (TOP's limit), oldest first."""
    start = since if since is not None else until - HISTORY
    out = []
    while start < until:
        end = min(start + MAX_WINDOW, until)
        out.append((start, end))
        start = end
    return out


def fetch_trades(
    client: TopClient,
    since: datetime | None,
    until: datetime,
    *,
    fields: str = TRADE_FIELDS,
    head_fields: str = "tid",
    dataset: str = "orders",
) -> Iterator[list[dict[str, Any]]]:
    """Trades modified in [since, until), one list per page, each window paged from the back."""
    for start, end in windows(since, until):
        # end_modified is inclusive and counts whole seconds: stop one second short of `end`
        query = {
            "fields": fields,
            "start_modified": top_time(start),
            "end_modified": top_time(end - timedelta(seconds=1)),
            "page_size": str(PAGE_SIZE),
        }
        head = client.call(
            INCREMENT_METHOD,
            {
                **query,
                "fields": head_fields,
                "page_no": "1",
                "page_size": "1",
                "use_has_next": "false",
            },
            dataset=dataset,
        )
        total = int(head.get("total_results") or 0)
        last = -(-total // PAGE_SIZE)
        for page_no in range(last, 0, -1):
            body = client.call(
                INCREMENT_METHOD,
                {**query, "page_no": str(page_no), "use_has_next": "true"},
                dataset=dataset,
            )
            trades = top_list(body.get("trades"), "trade")
            if trades:
                yield trades


def order_records(trade: dict[str, Any]) -> list[dict[str, Any]]:
    """The export-API order lines (DESIGN.md §3) of one TOP trade, one per sub-order."""
    orders = top_list(trade.get("orders"), "order")
    step = trade.get("step_trade_status")
    paid_at = iso_from_top(trade.get("pay_time")) if (step is None or step == STEP_PAID) else None
    pays = _payments(trade, orders)
    tid = str(trade.get("tid", ""))
    buyer = trade.get("buyer_open_uid") or trade.get("buyer_nick") or ""
    records = []
    for order, pay in zip(orders, pays, strict=True):
        status = core_status(
            str(trade.get("status") or ""), order.get("status"), order.get("refund_status")
        )
        if status == "refunded" and paid_at is None:
            status = "cancelled"  # closed before it was ever paid
        if step is not None and step != STEP_PAID and status == "paid":
            status = "created"  # deposit only: not paid until the final payment
        records.append(
            {
                "order_id": tid,
                "buyer_id": buyer,
                "sku_id": _sku(order),
                "quantity": order.get("num"),
                "unit_price": order.get("price"),
                "pay_amount": str(pay),
                "status": status,
                "source": UNATTRIBUTED,
                "promo_id": None,
                "created_at": iso_from_top(trade.get("created")),
                "paid_at": paid_at,
                "updated_at": iso_from_top(trade.get("modified")),
                "tid": trade.get("tid"),
                "oid": order.get("oid"),
                "num_iid": order.get("num_iid"),
                "top_status": order.get("status") or trade.get("status"),
            }
        )
    return records


def _payments(trade: dict[str, Any], orders: list[dict[str, Any]]) -> list[Decimal]:
    """Each sub-order's share of the trade's payment, postage included (生意参谋's 支付金额).

    A sub-order's `payment` leaves out the trade's postage when a trade has several; the
    difference to the trade's `payment` is shared in proportion, the last line taking the
    remainder, so the lines add up to the trade's payment to the cent.
    """
    own = [_money(o.get("payment")) for o in orders]
    total = (
        _money(trade.get("payment")) if trade.get("payment") is not None else sum(own, Decimal(0))
    )
    rest = total - sum(own, Decimal(0))
    if not orders or rest == 0:
        return own
    base = sum(own, Decimal(0))
    shares: list[Decimal] = []
    for amount in own[:-1]:
        extra = (rest * amount / base).quantize(CENT) if base else Decimal(0)
        shares.append(amount + extra)
    shares.append(total - sum(shares, Decimal(0)))
    return shares


def _money(value: Any) -> Decimal:
    try:
        return Decimal(str(value)).quantize(CENT)
    except ArithmeticError:
        return Decimal(0)


def _sku(order: dict[str, Any]) -> str:
    # the seller's own SKU code (商家编码) is what 生意参谋 and the seller's ERP use
    for key in ("outer_sku_id", "outer_iid"):
        if order.get(key):
            return str(order[key])
    return f"{order.get('num_iid', '')}:{order.get('sku_id') or ''}"
