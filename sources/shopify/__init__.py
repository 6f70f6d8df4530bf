"""Shopify through its Admin GraphQL API: orders, products, inventory, discounts, sessions,
and shipments (fulfillment orders, fulfillments and returns of the orders).

Incremental pulls page the orders query by `updated_at`; a window longer than
`source.bulk_after_hours` runs one bulk operation instead and lets DuckDB read its JSONL.
Both map onto the export-API records of DESIGN §3 with the same SQL (sql/shopify/).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import httpx
import orjson

from sources.base import FilePage, JsonPage, Page
from sources.errors import ExportFatalError
from sources.settings import SourceSettings
from sources.shopify import mapping, queries
from sources.shopify.bulk import run_bulk_query
from sources.shopify.client import GraphQLClient
from sources.shopify.errors import ShopifyAccessError, ShopifyQueryError

__all__ = ["PROVIDES", "REQUIRED_SCOPES", "ShopifySource", "missing_scopes"]

PROVIDES = frozenset({"orders", "products", "inventory", "promotions", "traffic", "shipments"})
"""Shopify has no search-keyword report, and its Admin API serves no customer chats or product
reviews: `keywords`, `service_chats` and `reviews` are not provided by this source."""

REQUIRED_SCOPES = {
    "orders": ("read_orders",),
    "products": ("read_products",),
    "inventory": ("read_inventory",),
    "promotions": ("read_discounts",),
    "traffic": ("read_reports",),
    "shipments": ("read_orders", "read_merchant_managed_fulfillment_orders", "read_returns"),
}
SQL_DIR = Path(__file__).resolve().parents[2] / "sql" / "shopify"
SMALL_PAGE = 50


def _sql(name: str) -> str:
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


def _script(db: duckdb.DuckDBPyConnection, name: str, params: dict[str, Any]) -> None:
    """Run a multi-statement model; only the statements naming a parameter get it bound."""
    for statement in _sql(name).split(";\n"):
        if not statement.strip():
            continue
        used = {k: v for k, v in params.items() if f"${k}" in statement}
        db.execute(statement, used or None)


def _z(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ql(value: datetime) -> str:
    """An absolute ShopifyQL date-time, read in the query's TIMEZONE (UTC)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _updated(since: datetime | None, until: datetime) -> str:
    """A search query on updated_at for [since, until)."""
    upper = f"updated_at:<'{_z(until)}'"
    return upper if since is None else f"updated_at:>='{_z(since)}' AND {upper}"


def _page(items: list[dict[str, Any]]) -> JsonPage:
    return JsonPage(text=orjson.dumps({"items": items}).decode(), count=len(items))


class ShopifySource:
    """An `ExportSource` reading one Shopify store through the Admin GraphQL API."""

    provides = PROVIDES

    def __init__(
        self,
        settings: SourceSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
        bulk_poll_seconds: float = 1.0,
    ) -> None:
        kwargs: dict[str, Any] = {"transport": transport}
        if sleep is not None:
            kwargs["sleep"] = sleep
        self.client = GraphQLClient(settings, **kwargs)
        self.settings = settings
        self.name = self.client.name
        self.bulk_poll_seconds = bulk_poll_seconds
        self.force: str | None = None  # "bulk" or "pages": a fixed orders path (tests, bench)
        self._db = duckdb.connect()
        self._tmp = Path(tempfile.mkdtemp(prefix="shoppulse-shopify-"))

    def close(self) -> None:
        self.client.close()
        self._db.close()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def pages(self, dataset: str, since: datetime | None, until: datetime) -> Iterator[Page]:
        """Every page of `dataset` in [since, until) as export-API records."""
        if dataset not in PROVIDES:
            raise ExportFatalError(
                f"{self.name}: {dataset} is not provided by this source",
                dataset=dataset,
                source=self.name,
            )
        if dataset == "orders":
            if self._use_bulk(since, until):
                yield from self._orders_bulk(since, until)
            else:
                yield from self._orders_paged(since, until)
        elif dataset == "products":
            for nodes in self._connection(
                queries.PRODUCTS, "products", dataset, {"query": _updated(since, until)}, 52
            ):
                yield _page(mapping.product_records(nodes, self.settings.safety_stock))
        elif dataset == "inventory":
            yield from self._inventory(until)
        elif dataset == "shipments":
            for nodes in self._connection(
                queries.SHIPMENTS,
                "orders",
                dataset,
                {"query": _updated(since, until)},
                queries.SHIPMENT_NODE_COST,
            ):
                yield _page(mapping.shipment_records(nodes))
        elif dataset == "promotions":
            records = []
            for nodes in self._connection(queries.DISCOUNTS, "discountNodes", dataset, {}, 210):
                records += mapping.promotion_records(nodes)
            yield _page(records)
        else:
            yield from self._traffic(since, until)

    # -- orders ---------------------------------------------------------------------------

    def _use_bulk(self, since: datetime | None, until: datetime) -> bool:
        if self.force is not None:
            return self.force == "bulk"
        # the hourly re-read of the lookback (49 h by default) pages; a longer window (a first
        # load, a long backfill chunk) is worth a bulk operation
        return since is None or until - since > timedelta(hours=self.settings.bulk_after_hours)

    def _orders_paged(self, since: datetime | None, until: datetime) -> Iterator[JsonPage]:
        first = queries.orders_page_size(self.settings.max_query_cost)
        cost = 2 + first * queries.order_cost()
        variables: dict[str, Any] = {"first": first, "query": _updated(since, until)}
        while True:
            data = self.client.query(queries.ORDERS, variables, dataset="orders", cost=cost)
            conn = data["orders"]
            if conn["nodes"]:
                _script(
                    self._db, "orders_from_page", {"text": orjson.dumps(conn["nodes"]).decode()}
                )
                yield self._lines_page()
            info = conn["pageInfo"]
            if not info["hasNextPage"]:
                return
            variables["after"] = info["endCursor"]

    def _lines_page(self) -> JsonPage:
        text, count = self._db.execute(
            "select '{\"items\":' || coalesce(to_json(list(t))::varchar, '[]') || '}', count(*)"
            f" from ({_sql('order_lines')}) t"
        ).fetchall()[0]
        return JsonPage(text=text, count=int(count))

    def _orders_bulk(self, since: datetime | None, until: datetime) -> Iterator[FilePage]:
        raw = run_bulk_query(
            self.client,
            queries.bulk_orders(_updated(since, until)),
            self._tmp / "orders-bulk.jsonl",
            dataset="orders",
            poll_seconds=self.bulk_poll_seconds,
        )
        _script(self._db, "orders_from_bulk", {"path": str(raw)})
        lines = self._tmp / "orders-lines.jsonl"
        self._db.execute(
            f"copy ({_sql('order_lines')}) to $path (format json)", {"path": str(lines)}
        )
        raw.unlink()
        yield FilePage(path=lines, format="jsonl")
        lines.unlink(missing_ok=True)

    # -- the small datasets ---------------------------------------------------------------

    def _connection(
        self, text: str, root: str, dataset: str, variables: dict[str, Any], node_cost: int
    ) -> Iterator[list[dict[str, Any]]]:
        first = max(1, min(250, (self.settings.max_query_cost - 2) // node_cost))
        variables = dict(variables, first=first)
        while True:
            data = self.client.query(text, variables, dataset=dataset, cost=2 + first * node_cost)
            conn = data[root]
            if conn["nodes"]:
                yield conn["nodes"]
            if not conn["pageInfo"]["hasNextPage"]:
                return
            variables["after"] = conn["pageInfo"]["endCursor"]

    def _inventory(self, until: datetime) -> Iterator[JsonPage]:
        # levels are as of now: stamped at the start of the window's last hour, so the
        # snapshot lands inside [since, until) like the export's hourly snapshots do
        stamp = until.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        if stamp == until:
            stamp -= timedelta(hours=1)
        nodes: list[dict[str, Any]] = []
        for part in self._connection(queries.INVENTORY, "productVariants", "inventory", {}, 36):
            nodes += part
        yield _page(mapping.inventory_records(nodes, stamp))

    def _traffic(self, since: datetime | None, until: datetime) -> Iterator[JsonPage]:
        start = since or until - timedelta(days=30)
        # SINCE and UNTIL are both inclusive; hours come back as UTC `yyyy-MM-ddThh`
        last = until - timedelta(seconds=1)
        shopifyql = (
            "FROM sessions SHOW sessions, online_store_visitors, pageviews,"
            " sessions_with_cart_additions, bounce_rate"
            f" SINCE {_ql(start)} UNTIL {_ql(last)}"
            " GROUP BY hour, referrer_source ORDER BY hour WITH TIMEZONE 'UTC'"
        )
        data = self.client.query(queries.SESSIONS, {"query": shopifyql}, dataset="traffic", cost=10)
        answer = data["shopifyqlQuery"]
        if answer.get("parseErrors"):
            raise ShopifyQueryError(
                f"{self.name}: ShopifyQL sessions query failed: {answer['parseErrors']}",
                dataset="traffic",
                source=self.name,
            )
        table = answer.get("tableData") or {"columns": [], "rows": []}
        records = mapping.traffic_records(table)
        if records:
            yield _page(records)


def missing_scopes(source: ShopifySource) -> list[str]:
    """The access scopes the source needs that the token lacks (one cheap query)."""
    data = source.client.query(queries.SCOPES, {}, dataset="scopes", cost=2)
    try:
        granted = {s["handle"] for s in data["currentAppInstallation"]["accessScopes"]}
    except (KeyError, TypeError):
        raise ShopifyAccessError(
            f"{source.name}: the access scopes could not be read",
            dataset="scopes",
            source=source.name,
        ) from None
    # write_X implies read_X
    granted |= {s.replace("write_", "read_", 1) for s in granted}
    return sorted({s for scopes in REQUIRED_SCOPES.values() for s in scopes} - granted)
