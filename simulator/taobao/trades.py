"""The simulated shop's order lines as TOP trades (taobao.trades.sold.increment.get)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import TYPE_CHECKING, Any

from simulator import datasets
from simulator.cache import LRU

if TYPE_CHECKING:
    from simulator.simulation import Simulator

__all__ = ["CHINA", "TOP_STATUS", "TradeBook", "top_time"]

CHINA = timezone(timedelta(hours=8))
# core status -> (TOP sub-order status, refund_status)
TOP_STATUS = {
    "created": ("WAIT_BUYER_PAY", "NO_REFUND"),
    "paid": ("WAIT_SELLER_SEND_GOODS", "NO_REFUND"),
    "shipped": ("WAIT_BUYER_CONFIRM_GOODS", "NO_REFUND"),
    "completed": ("TRADE_FINISHED", "NO_REFUND"),
    "cancelled": ("TRADE_CLOSED_BY_TAOBAO", "NO_REFUND"),
    "refunded": ("TRADE_CLOSED", "SUCCESS"),
}
ITEM_BASE = 600_000_000_000


def top_time(iso: str | None) -> str | None:
    """An ISO-8601 time as TOP writes it: 'yyyy-MM-dd HH:mm:ss' in UTC+8."""
    if iso is None:
        return None
    return datetime.fromisoformat(iso).astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")


class TradeBook:
    """Trade snapshots by modified time: the order lines that changed at one instant, together.

    The real gateway lists every sub-order of a trade in its latest state; a snapshot here
    lists the sub-orders that changed at that modification, each at that state. A client that
    maps sub-orders one by one (as shoppulse does) reads both alike.
    """

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self._hours: LRU[int, list[dict[str, Any]]] = LRU(72)
        # a client pages one window many times: keep the last windows' trades
        self._windows: LRU[tuple[float, float], list[dict[str, Any]]] = LRU(8)
        self._presale = {p.promo_id for p in sim.promotions if p.kind == "presale"}
        self._item = {sku_id: k for k, sku_id in enumerate(sim.catalog.sku_ids)}

    def trades(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Trades modified in [start, end] (inclusive, whole seconds), newest first."""
        lo, hi = start.timestamp(), end.timestamp() + 1
        return self._windows.get((lo, hi), lambda: self._build(lo, hi))

    def _build(self, lo: float, hi: float) -> list[dict[str, Any]]:
        clock = self.sim.clock
        first = max(0, clock.hour_of(lo))
        last = min(clock.hours - 1, clock.hour_of(hi - 1))
        groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for h in range(first, last + 1):
            for line in self._hours.get(h, partial(datasets.order_rows, self.sim, h)):
                ts = datetime.fromisoformat(line["updated_at"]).timestamp()
                if lo <= ts < hi:
                    groups[(line["order_id"], line["updated_at"])].append(line)
        trades = [self._trade(lines) for lines in groups.values()]
        trades.sort(key=lambda t: (t["modified"], t["tid"]), reverse=True)
        return trades

    def _trade(self, lines: list[dict[str, Any]]) -> dict[str, Any]:
        head = lines[0]
        tid = int(head["order_id"].lstrip("T"))
        presale = any(line["promo_id"] in self._presale for line in lines)
        status, _ = TOP_STATUS[head["status"]]
        orders = []
        for n, line in enumerate(lines):
            top_status, refund = TOP_STATUS[line["status"]]
            orders.append(
                {
                    "oid": tid * 100 + n,
                    "num_iid": ITEM_BASE + self._item[line["sku_id"]],
                    "sku_id": ITEM_BASE * 10 + self._item[line["sku_id"]],
                    "outer_sku_id": line["sku_id"],
                    "num": line["quantity"],
                    "price": line["unit_price"],
                    "payment": f"{line['pay_amount']:.2f}",
                    "status": top_status,
                    "refund_status": refund,
                }
            )
        trade: dict[str, Any] = {
            "tid": tid,
            "type": "step" if presale else "fixed",
            "status": status,
            "buyer_open_uid": head["buyer_id"],
            "buyer_nick": head["buyer_id"],
            "created": top_time(head["created_at"]),
            "pay_time": top_time(head["paid_at"]),
            "modified": top_time(head["updated_at"]),
            "payment": f"{sum(line['pay_amount'] for line in lines):.2f}",
            "post_fee": "0.00",
            "orders": orders,
        }
        if presale:
            trade["step_trade_status"] = (
                "FRONT_PAID_FINAL_PAID" if head["paid_at"] else "FRONT_NOPAID_FINAL_NOPAID"
            )
        return trade
