"""Reviews from taobao.traderates.get: the ratings buyers gave the shop's sub-orders.

TOP documents for the call (搜索评价信息, docs/sources/taobao.md cites the pages): rate_type
`get` with role `buyer` lists the ratings the seller received from buyers, searched by their
creation time (start_date, end_date), at most 150 a page and 1,500 a query, for 180 days. A
TradeRate carries `result` (good / neutral / bad), `content`, `reply` (the seller's 评价解释),
`created`, `tid`, `oid`, `num_iid`, `nick` / `ouid`; it has no star rating, no reply time, no
pictures and no IP or device.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from filelock import FileLock

from sources.taobao.client import TopClient, iso_from_top, top_list, top_time
from sources.taobao.trades import windows

__all__ = [
    "RATES_METHOD",
    "RATE_FIELDS",
    "RATING",
    "ReplyLog",
    "fetch_rates",
    "replied_ids",
    "review_records",
]

RATES_METHOD = "taobao.traderates.get"
RATE_FIELDS = "tid,oid,role,nick,ouid,result,created,content,reply,num_iid"
PAGE_SIZE = 150  # the call's maximum page_size
MAX_RESULTS = 1500  # one query returns at most this many ratings: a fuller window is split
# Taobao rates good / neutral / bad (好评 / 中评 / 差评); shoppulse's reviews are 1-5 stars:
# good is 5, neutral 3, bad 1, so a bad rating is a negative review (rating <= 2)
RATING = {"good": 5, "neutral": 3, "bad": 1}


def fetch_rates(
    client: TopClient, since: datetime | None, until: datetime
) -> Iterator[list[dict[str, Any]]]:
    """Ratings buyers gave, created in [since, until), one list per page."""
    pending = list(reversed(windows(since, until)))
    while pending:
        start, end = pending.pop()
        query = {
            "fields": RATE_FIELDS,
            "rate_type": "get",
            "role": "buyer",
            "start_date": top_time(start),
            # end_date is inclusive and counts whole seconds
            "end_date": top_time(end - timedelta(seconds=1)),
            "page_size": str(PAGE_SIZE),
        }
        page_no, total = 1, None
        while True:
            body = client.call(RATES_METHOD, {**query, "page_no": str(page_no)}, dataset="reviews")
            if total is None:
                total = int(body.get("total_results") or 0)
                if total >= MAX_RESULTS and end - start > timedelta(minutes=1):
                    middle = start + (end - start) / 2
                    pending += [(middle, end), (start, middle)]
                    break
            rates = top_list(body.get("trade_rates"), "trade_rate")
            if rates:
                yield rates
            if not rates or page_no * PAGE_SIZE >= total:
                break
            page_no += 1


class ReplyLog:
    """When a reply was first seen: TOP shows the seller's reply but not when it was written,
    so the first read that saw it dates it (kept in the exports folder's state, so every
    later read of the same review keeps the same `replied_at`)."""

    def __init__(self, state: Path) -> None:
        self.path = state / "replies.json"
        self.lock = state / "replies.lock"

    def stamp(self, review_ids: list[str], seen: datetime) -> dict[str, str]:
        """Each review's first-seen reply time, recording `seen` for those new to the log."""
        if not review_ids:
            return {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(self.lock):
            known: dict[str, str] = (
                orjson.loads(self.path.read_bytes()) if self.path.is_file() else {}
            )
            new = {r: seen.isoformat() for r in review_ids if r not in known}
            if new:
                known.update(new)
                tmp = self.path.with_suffix(".tmp")
                tmp.write_bytes(orjson.dumps(known))
                tmp.replace(self.path)
        return {r: known[r] for r in review_ids}


def review_records(
    rates: list[dict[str, Any]], skus: dict[str, str], replied: dict[str, str]
) -> list[dict[str, Any]]:
    """The export-API review records (DESIGN.md §3) of buyers' ratings.

    `skus`: the SKU code of each item (num_iid) that has one SKU; a rating of an item with
    several SKUs names the item (`<num_iid>:`), since the rating does not say which SKU.
    `replied`: review_id -> when its reply was first seen."""
    out = []
    for rate in rates:
        if rate.get("role") not in (None, "buyer"):
            continue
        review_id = _review_id(rate)
        created = iso_from_top(rate.get("created"))
        reply = replied.get(review_id) if rate.get("reply") else None
        item = str(rate.get("num_iid") or "")
        out.append(
            {
                "review_id": review_id,
                "order_id": "" if rate.get("tid") is None else str(rate["tid"]),
                "sku_id": skus.get(item, f"{item}:"),
                "buyer_id": rate.get("ouid") or rate.get("nick") or "",
                "rating": RATING.get(str(rate.get("result")), rate.get("result")),
                "text": rate.get("content") or "",
                "has_images": False,
                "ip_hash": None,
                "created_at": created,
                "replied_at": reply,
                "updated_at": reply or created,
                "rate_result": rate.get("result"),
                "num_iid": rate.get("num_iid"),
            }
        )
    return out


def replied_ids(rates: list[dict[str, Any]]) -> list[str]:
    """The review ids of the ratings the seller has replied to."""
    return [_review_id(r) for r in rates if r.get("reply")]


def _review_id(rate: dict[str, Any]) -> str:
    # a rating is one sub-order's; TradeRate has no id of its own
    return f"{rate.get('tid')}-{rate.get('oid')}"
