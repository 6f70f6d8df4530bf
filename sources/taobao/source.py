"""The taobao source: TOP for orders, items, stock, reviews and shipments; the exports folder
for traffic, keywords, promotions and customer-service chats."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson

from sources.base import ALL_DATASETS, JsonPage, Page
from sources.errors import ExportFatalError
from sources.settings import SourceSettings
from sources.taobao.client import TopClient
from sources.taobao.folder import STATE, ExportFolder
from sources.taobao.items import fetch_items, inventory_records, live_snapshot, product_records
from sources.taobao.reviews import ReplyLog, fetch_rates, replied_ids, review_records
from sources.taobao.shipments import (
    SHIPMENT_FIELDS,
    fetch_refunds,
    pending_refunds,
    refund,
    returns_of,
    shipment_records,
)
from sources.taobao.tables import HEADERS, SOURCES
from sources.taobao.trades import fetch_trades, order_records

__all__ = ["FROM_FILES", "FROM_TOP", "TaobaoSource"]

FROM_TOP = ("orders", "products", "inventory", "reviews", "shipments")
FROM_FILES = ("traffic", "keywords", "promotions", "service_chats")
LANDED_PAGE = 5000


class TaobaoSource:
    """An `ExportSource` over the TOP gateway and a folder of 生意参谋 exports."""

    # promotions come from the folder's promotions.csv, chats from a 客服接待明细 export in
    # it, traffic and keywords from 生意参谋 files; the rest from TOP
    provides = ALL_DATASETS

    def __init__(
        self,
        settings: SourceSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        assert settings.exports_dir is not None
        extra: dict[str, Any] = {"transport": transport, "now": now}
        if sleep is not None:
            extra["sleep"] = sleep
        self.client = TopClient(settings, **extra)
        self.folder = ExportFolder(
            settings.exports_dir,
            {**HEADERS, **settings.sycm_headers},
            {**SOURCES, **settings.sycm_sources},
        )
        self.settings = settings
        self.name = self.client.name
        self._now = now
        self.replies = ReplyLog(settings.exports_dir / STATE)

    @property
    def retries(self) -> int:
        return self.client.retries

    def close(self) -> None:
        self.client.close()

    def pages(self, dataset: str, since: datetime | None, until: datetime) -> Iterator[Page]:
        """Pages of export-API records of `dataset` for [since, until)."""
        if dataset == "orders":
            # TOP pages hold 100 trades; the loader lands fewer, larger pages faster
            batch: list[dict[str, Any]] = []
            for trades in fetch_trades(self.client, since, until):
                batch += [r for t in trades for r in order_records(t)]
                if len(batch) >= LANDED_PAGE:
                    yield _page(batch)
                    batch = []
            if batch:
                yield _page(batch)
        elif dataset == "products":
            for items in fetch_items(self.client, dataset):
                yield _page(product_records(items, self.settings.safety_stock))
        elif dataset == "inventory":
            at = live_snapshot(until, self._now())
            if at is None:
                return  # TOP tells today's stock only: nothing for a past hour
            for items in fetch_items(self.client, dataset):
                yield _page(inventory_records(items, at))
        elif dataset == "reviews":
            yield from self._reviews(since, until)
        elif dataset == "shipments":
            yield from self._shipments(since, until)
        elif dataset in FROM_FILES:
            yield from self.folder.pages(dataset)
        else:
            raise ExportFatalError(
                f"{self.name}: {dataset} is not provided by the taobao source",
                dataset=dataset,
                source=self.name,
            )

    def _reviews(self, since: datetime | None, until: datetime) -> Iterator[JsonPage]:
        skus: dict[str, str] | None = None
        # a reply is dated by the read that first saw it: the last second of its window (the
        # window's records must lie inside it)
        seen = min(until, self._now()) - timedelta(seconds=1)
        for rates in fetch_rates(self.client, since, until):
            if skus is None:
                skus = self._single_skus()
            replied = self.replies.stamp(replied_ids(rates), seen)
            yield _page(review_records(rates, skus, replied))

    def _single_skus(self) -> dict[str, str]:
        """The SKU code of every item that has exactly one SKU, by num_iid."""
        codes: dict[str, list[str]] = {}
        for items in fetch_items(self.client, "reviews"):
            for record in product_records(items, 0):
                codes.setdefault(str(record["num_iid"]), []).append(str(record["sku_id"]))
        return {item: found[0] for item, found in codes.items() if len(found) == 1}

    def _shipments(self, since: datetime | None, until: datetime) -> Iterator[JsonPage]:
        known = returns_of([r for page in fetch_refunds(self.client, since, until) for r in page])
        for trades in fetch_trades(
            self.client,
            since,
            until,
            fields=SHIPMENT_FIELDS,
            head_fields="tid,orders.est_con_time",
            dataset="shipments",
        ):
            missing = [refund(self.client, rid) for rid in pending_refunds(trades, known)]
            known.update(returns_of([r for r in missing if r is not None]))
            records = shipment_records(trades, known)
            if records:
                yield _page(records)


def _page(records: list[dict[str, Any]]) -> JsonPage:
    return JsonPage(text=orjson.dumps({"items": records}).decode("utf-8"), count=len(records))
