"""The taobao source: TOP for orders, items and stock; the exports folder for the rest."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from sources.base import ALL_DATASETS, SERVICE_DATASETS, JsonPage, Page
from sources.errors import ExportFatalError
from sources.settings import SourceSettings
from sources.taobao.client import TopClient
from sources.taobao.folder import ExportFolder
from sources.taobao.items import fetch_items, inventory_records, live_snapshot, product_records
from sources.taobao.tables import HEADERS, SOURCES
from sources.taobao.trades import fetch_trades, order_records

__all__ = ["FROM_FILES", "FROM_TOP", "TaobaoSource"]

FROM_TOP = ("orders", "products", "inventory")
FROM_FILES = ("traffic", "keywords", "promotions")
LANDED_PAGE = 5000


class TaobaoSource:
    """An `ExportSource` over the TOP gateway and a folder of 生意参谋 exports."""

    # promotions come from the folder's promotions.csv, the rest from TOP and 生意参谋; the
    # TOP chat, review and logistics APIs are not mapped yet: those are not provided
    provides = ALL_DATASETS - SERVICE_DATASETS

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
        elif dataset in FROM_FILES:
            yield from self.folder.pages(dataset)
        else:
            raise ExportFatalError(
                f"{self.name}: {dataset} is not provided by the taobao source",
                dataset=dataset,
                source=self.name,
            )


def _page(records: list[dict[str, Any]]) -> JsonPage:
    return JsonPage(text=orjson.dumps({"items": records}).decode("utf-8"), count=len(records))
