"""The simulated shop's reviews, shipments and returns as TOP shows them.

- taobao.traderates.get: each review as a buyer's TradeRate (good / neutral / bad), the
  shop's reply as `reply` once written by `now` (the end of the simulation unless set: TOP
  answers a rating as it stands, not as it stood);
- taobao.trades.sold.increment.get with the shipping fields: each shipment version as a
  trade snapshot modified at its `updated_at`, its sub-order carrying `est_con_time` (the
  promise), `consign_time` and, once returned, a `refund_id`;
- taobao.refunds.receive.get and taobao.refund.get: each return as a 退货退款 refund, its
  reason in the words Taobao offers buyers.
"""

from __future__ import annotations

import threading
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from simulator.cache import LRU
from simulator.service import Versions, review_versions
from simulator.taobao.trades import ITEM_BASE, top_time

if TYPE_CHECKING:
    from simulator.simulation import Simulator

__all__ = ["REFUND_REASONS", "ServiceBook", "rate_result"]

# the simulator's return reasons as a buyer picks them on Taobao (退款原因)
REFUND_REASONS = {
    "size_fit": "尺码不合适",
    "quality": "质量问题",
    "not_as_described": "商品与描述不符",
    "damaged": "收到商品破损",
    "wrong_address": "收货地址填写错误",
    "other": "其他",
}
RETURNING = "WAIT_SELLER_CONFIRM_GOODS"  # 买家已经退货, 等待卖家确认收货


def rate_result(rating: int) -> str:
    """A star rating as Taobao's 好评 / 中评 / 差评."""
    return "good" if rating >= 4 else "neutral" if rating == 3 else "bad"


def _tid(order_id: str) -> int:
    return int(order_id.lstrip("T"))


class ServiceBook:
    """Reviews, shipments and refunds of one simulator, in TOP's shapes."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self._reviews: LRU[int, Versions] = LRU(96)
        self._item = {sku_id: k for k, sku_id in enumerate(sim.catalog.sku_ids)}
        self._refunds: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self.now = int(sim.clock.starts[-1])

    # -- reviews --------------------------------------------------------------------------

    def rates(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Ratings created in [start, end] (inclusive, whole seconds), oldest first."""
        lo, hi = int(start.timestamp()), int(end.timestamp()) + 1
        clock = self.sim.clock
        out: list[tuple[int, dict[str, Any]]] = []
        for c in range(max(0, clock.hour_of(lo)), min(clock.hours, clock.hour_of(hi - 1) + 1)):
            v = self._reviews.get(c, partial(review_versions, self.sim, c))
            for i in np.nonzero((v.stage == 0) & (v.ts >= lo) & (v.ts < hi))[0].tolist():
                entity = int(v.entity[i])
                replied = bool(np.any((v.entity == entity) & (v.stage == 1) & (v.ts < self.now)))
                out.append((int(v.ts[i]), self._rate(v.build(entity, 0), replied)))
        return [rate for _, rate in sorted(out, key=lambda x: x[0])]

    def _rate(self, review: dict[str, Any], replied: bool) -> dict[str, Any]:
        tid = _tid(review["order_id"])
        item = self._item[review["sku_id"]]
        return {
            "tid": tid,
            "oid": tid * 1000 + item,
            "role": "buyer",
            "nick": review["buyer_id"],
            "ouid": review["buyer_id"],
            "result": rate_result(int(review["rating"])),
            "created": top_time(review["created_at"]),
            "content": review["text"],
            "reply": "感谢您的反馈，已为您处理。" if replied else None,
            "num_iid": ITEM_BASE + item,
        }

    # -- shipments and refunds ------------------------------------------------------------

    def _shipments(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """The typed shipment versions updated in [start, end] (the export's dirt left out)."""
        out = []
        until = datetime.fromtimestamp(end.timestamp() + 1, start.tzinfo)
        for record in self.sim.records("shipments", start, until):
            try:
                _tid(str(record["order_id"]))
                for name in ("promised_ship_by", "updated_at"):
                    datetime.fromisoformat(str(record[name]))
            except (KeyError, TypeError, ValueError):
                continue
            out.append(record)
        return out

    def trades(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Trade snapshots of the shipment versions modified in [start, end], newest first."""
        trades = [self._trade(r) for r in self._shipments(start, end)]
        trades.sort(key=lambda t: (t["modified"], t["tid"]), reverse=True)
        return trades

    def _trade(self, record: dict[str, Any]) -> dict[str, Any]:
        tid = _tid(str(record["order_id"]))
        shipped = top_time(record.get("shipped_at"))
        order: dict[str, Any] = {
            "oid": tid * 100,
            "est_con_time": top_time(record["promised_ship_by"]),
            "refund_status": "NO_REFUND",
        }
        if shipped:
            order["consign_time"] = shipped
        if record.get("returned_at"):
            refund = self._refund(tid, record)
            order.update(refund_id=refund["refund_id"], refund_status=RETURNING)
        trade: dict[str, Any] = {
            "tid": tid,
            "modified": top_time(record["updated_at"]),
            "orders": [order],
        }
        if shipped:
            trade["consign_time"] = shipped
        return trade

    def _refund(self, tid: int, record: dict[str, Any]) -> dict[str, Any]:
        at = top_time(record["returned_at"])
        refund_id = tid * 10 + 7
        refund: dict[str, Any] = {
            "refund_id": refund_id,
            "tid": tid,
            "oid": tid * 100,
            "status": RETURNING,
            "created": at,
            "modified": at,
            "reason": REFUND_REASONS.get(str(record.get("return_reason")), "其他"),
            "has_good_return": True,
        }
        with self._lock:
            self._refunds[refund_id] = refund
        return refund

    def refunds(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Return refunds modified in [start, end], oldest first."""
        out = []
        for record in self._shipments(start, end):
            if record.get("returned_at") and record["returned_at"] == record["updated_at"]:
                out.append(self._refund(_tid(str(record["order_id"])), record))
        return sorted(out, key=lambda r: (r["modified"], r["refund_id"]))

    def refund(self, refund_id: int) -> dict[str, Any] | None:
        """A refund a served trade named."""
        with self._lock:
            return self._refunds.get(refund_id)
