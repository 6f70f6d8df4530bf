"""The simulated shop as a Shopify store: an emulation of the Admin GraphQL API on loopback.

It answers the calls shoppulse's Shopify source makes, in the documented shapes, from the
same seeded shop the export API serves: orders (with line items, refunds, transactions and
the customer journey), the orders' fulfillment orders, fulfillments and returns (the
shipments dataset), products and variants, inventory levels, discounts, a ShopifyQL
`sessions` table, access scopes, and bulk operations whose JSONL result is downloaded from a
URL. It checks `X-Shopify-Access-Token`, keeps a leaky cost bucket per store and answers
`THROTTLED` when a query asks for more than the bucket holds. It is not a GraphQL engine:
it recognises the root field of each query and answers with every field the source selects.
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import polars as pl
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulator import datasets
from simulator.orders import MAX_LAG_HOURS, STATUSES
from simulator.server import SimulatorServer
from simulator.simulation import Simulator

__all__ = [
    "ALL_SCOPES",
    "SHOPIFY_REASONS",
    "ShopifyEmulator",
    "ShopifyServer",
    "create_shopify_app",
    "serve_shopify",
]

ALL_SCOPES = ("read_orders", "read_all_orders", "read_products", "read_inventory",
              "read_discounts", "read_reports", "read_merchant_managed_fulfillment_orders",
              "read_returns")  # fmt: skip
ROOTS = re.compile(
    r"\b(bulkOperationRunQuery|bulkOperation|currentAppInstallation|shopifyqlQuery|"
    r"discountNodes|productVariants|products|orders)\s*[({]"
)
SCOPE_OF = {
    "orders": "read_orders",
    "bulkOperationRunQuery": "read_orders",
    "products": "read_products",
    "productVariants": "read_inventory",
    "discountNodes": "read_discounts",
    "shopifyqlQuery": "read_reports",
    "shipments": "read_returns",
}
# the orders query that selects fulfillment orders and returns is the shipments dataset's
_SHIPMENTS = re.compile(r"\bfulfillmentOrders\s*\(")
# the simulator's return reasons as a Shopify ReturnReason (and note)
SHOPIFY_REASONS = {
    "size_fit": ("SIZE_TOO_SMALL", None),
    "quality": ("DEFECTIVE", None),
    "damaged": ("DEFECTIVE", None),
    "not_as_described": ("NOT_AS_DESCRIBED", None),
    "wrong_address": ("OTHER", "Wrong address"),
    "other": ("OTHER", None),
}
# requested cost of one node of each root, as the source's selections add up
NODE_COST = {
    "orders": 140,
    "shipments": 40,
    "products": 52,
    "productVariants": 36,
    "discountNodes": 210,
}
_SINCE = re.compile(r"updated_at:>='([^']+)'")
_UNTIL = re.compile(r"updated_at:<'([^']+)'")
_QL_SINCE = re.compile(r"\bSINCE\s+(\S+)")
_QL_UNTIL = re.compile(r"\bUNTIL\s+(\S+)")
HOUR = 3600
ISO = "%Y-%m-%dT%H:%M:%S%:z"
_COUNTS = ("visitors", "page_views", "bounces", "add_to_cart")
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"


def _z(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _typed_orders(frame: pl.DataFrame) -> pl.DataFrame:
    """The order lines a typed platform could hold: the export's injected dirt dropped."""
    created = pl.col("created_at").cast(pl.String).str.to_datetime(ISO, strict=False)
    typed = frame.with_columns(
        quantity=pl.col("quantity").cast(pl.String).cast(pl.Int64, strict=False),
        pay_amount=pl.col("pay_amount").cast(pl.String).cast(pl.Float64, strict=False),
    )
    if "status" not in typed.columns:
        return typed.clear()
    return typed.filter(
        (pl.col("quantity") > 0)
        & pl.col("pay_amount").is_not_null()
        & pl.col("status").is_in(STATUSES)
        & created.is_not_null()
    )


def _money(value: float | str) -> dict[str, Any]:
    return {"shopMoney": {"amount": f"{float(value):.2f}", "currencyCode": "CNY"}}


@dataclass
class Bucket:
    """Shopify's leaky bucket of query-cost points for one app and store."""

    maximum: float
    restore_rate: float
    available: float = -1.0
    at: float | None = None  # the bucket starts to refill with the first query

    def __post_init__(self) -> None:
        if self.available < 0:
            self.available = self.maximum

    def refill(self) -> None:
        now = time.monotonic()
        if self.at is not None:
            elapsed = now - self.at
            self.available = min(self.maximum, self.available + elapsed * self.restore_rate)
        self.at = now

    def status(self) -> dict[str, float]:
        return {
            "maximumAvailable": self.maximum,
            "currentlyAvailable": round(self.available, 1),
            "restoreRate": self.restore_rate,
        }


@dataclass
class BulkOperation:
    """One bulk query: its JSONL result is ready after `polls_until_done` polls."""

    op_id: str
    body: bytes
    objects: int
    key: str
    polls: int = 0


class ShopifyEmulator:
    """The state behind the emulated store: token, scopes, cost bucket, bulk operations."""

    def __init__(
        self,
        sim: Simulator,
        token: str,
        *,
        scopes: tuple[str, ...] = ALL_SCOPES,
        maximum: float = 2000.0,
        restore_rate: float = 100.0,
        polls_until_done: int = 1,
        available: float | None = None,
    ) -> None:
        self.sim = sim
        self.token = token
        self.scopes = scopes
        self.bucket = Bucket(maximum, restore_rate, maximum if available is None else available)
        self.polls_until_done = polls_until_done
        self.now_ts = float(sim.clock.starts[-1])
        self.throttled = 0
        self._bulk: dict[str, BulkOperation] = {}
        self._cache: OrderedDict[tuple[str, ...], list[dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def set_now(self, until: datetime) -> None:
        """Answer as the store would at `until`: inventory, discounts and products then."""
        self.now_ts = until.timestamp()

    # -- dispatch -------------------------------------------------------------------------

    def answer(self, query: str, variables: dict[str, Any], base_url: str) -> dict[str, Any]:
        """The JSON body for one GraphQL request (status 200, as Shopify answers errors)."""
        found = ROOTS.search(query)
        if found is None:
            return {"errors": [{"message": "Field is not supported by the simulated store"}]}
        root = found.group(1)
        if root == "orders" and _SHIPMENTS.search(query):
            root = "shipments"
        scope = SCOPE_OF.get(root)
        if scope is not None and scope not in self.scopes:
            return {
                "errors": [
                    {
                        "message": f"Access denied for {root} field. Required access:"
                        f" `{scope}` access scope.",
                        "extensions": {"code": "ACCESS_DENIED", "requiredAccess": scope},
                    }
                ]
            }
        first = int(variables.get("first") or 1)
        requested = 2 + first * NODE_COST.get(root, 0) if root in NODE_COST else 10
        with self._lock:
            self.bucket.refill()
            if requested > self.bucket.available:
                self.throttled += 1
                return {
                    "errors": [
                        {
                            "message": "Throttled",
                            "extensions": {
                                "code": "THROTTLED",
                                "documentation": "https://shopify.dev/api/usage/rate-limits",
                            },
                        }
                    ],
                    "extensions": self._cost(requested, None),
                }
            self.bucket.available -= requested
        data, returned = self._data(root, variables, base_url, first)
        actual = 2 + returned * NODE_COST[root] if root in NODE_COST else requested
        with self._lock:
            self.bucket.available = min(
                self.bucket.maximum, self.bucket.available + requested - actual
            )
        return {"data": data, "extensions": self._cost(requested, actual)}

    def _cost(self, requested: int, actual: int | None) -> dict[str, Any]:
        return {
            "cost": {
                "requestedQueryCost": requested,
                "actualQueryCost": actual,
                "throttleStatus": self.bucket.status(),
            }
        }

    def _data(
        self, root: str, variables: dict[str, Any], base_url: str, first: int
    ) -> tuple[dict[str, Any], int]:
        if root == "currentAppInstallation":
            scopes = [{"handle": s} for s in self.scopes]
            return {"currentAppInstallation": {"accessScopes": scopes}}, 0
        if root == "shopifyqlQuery":
            return {"shopifyqlQuery": self._sessions(str(variables["query"]))}, 0
        if root == "bulkOperationRunQuery":
            return {"bulkOperationRunQuery": self._bulk_run(str(variables["query"]))}, 0
        if root == "bulkOperation":
            return {"bulkOperation": self._bulk_poll(str(variables["id"]), base_url)}, 0
        query = str(variables.get("query") or "")
        key = (root, query, repr(self.now_ts))
        nodes = self._window(key)
        offset = int(base64.b64decode(variables["after"])) if variables.get("after") else 0
        page = nodes[offset : offset + first]
        more = offset + first < len(nodes)
        cursor = base64.b64encode(str(offset + len(page)).encode()).decode()
        conn = {"pageInfo": {"hasNextPage": more, "endCursor": cursor}, "nodes": page}
        return {"orders" if root == "shipments" else root: conn}, len(page)

    def _window(self, key: tuple[str, ...]) -> list[dict[str, Any]]:
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        root, query = key[0], key[1]
        build = {
            "orders": self.orders,
            "shipments": self.shipments,
            "products": self.products,
            "productVariants": lambda q: self.variants(),
            "discountNodes": lambda q: self.discounts(),
        }[root]
        nodes = build(query)
        with self._lock:
            self._cache[key] = nodes
            while len(self._cache) > 16:
                self._cache.popitem(last=False)
        return nodes

    # -- orders ---------------------------------------------------------------------------

    def _bounds(self, query: str) -> tuple[float | None, float]:
        since = _SINCE.search(query)
        until = _UNTIL.search(query)
        return (
            _ts(since.group(1)) if since else None,
            _ts(until.group(1)) if until else self.now_ts,
        )

    def orders(self, query: str) -> list[dict[str, Any]]:
        """Orders last updated in the query's updated_at range, as they stand at its end."""
        since, until = self._bounds(query)
        sim = self.sim
        lo = None if since is None else since - MAX_LAG_HOURS * HOUR
        start = None if lo is None else datetime.fromtimestamp(lo, UTC)
        rows = [
            row
            for chunk, a, b in sim.segments("orders", start, datetime.fromtimestamp(until, UTC))
            for row in chunk.rows[a:b]
        ]
        if not rows:
            return []
        frame = _typed_orders(pl.read_ndjson(b"\n".join(rows), infer_schema_length=None))
        ts = pl.col("updated_at").str.to_datetime(ISO).dt.epoch("s")
        latest = (
            frame.with_columns(ts=ts, seq=pl.int_range(pl.len()))
            .sort("ts", "seq")
            .group_by("order_id", "sku_id", maintain_order=True)
            .last()
        )
        touched = latest.group_by("order_id").agg(order_ts=pl.col("ts").max())
        if since is not None:
            touched = touched.filter(pl.col("order_ts") >= since)
        lines = latest.join(touched, on="order_id").sort("order_ts", "order_id", "sku_id")
        return [
            self._order(order_id, group.to_dicts())
            for (order_id,), group in lines.group_by("order_id", maintain_order=True)
        ]

    def _order(self, order_id: str, lines: list[dict[str, Any]]) -> dict[str, Any]:
        number = int(order_id[1:])
        first = lines[0]
        updated = max(line["ts"] for line in lines)
        statuses = {line["status"] for line in lines}
        all_cancelled = statuses == {"cancelled"}
        refunds: dict[int, list[dict[str, Any]]] = {}
        items = []
        for i, line in enumerate(lines):
            line_gid = f"gid://shopify/LineItem/{number * 100 + i}"
            status = line["status"]
            if status in ("cancelled", "refunded") and not all_cancelled:
                restock = "CANCEL" if status == "cancelled" else "RETURN"
                refunds.setdefault(line["ts"], []).append(
                    {"restockType": restock, "lineItem": {"id": line_gid}}
                )
            shipped = status in ("shipped", "completed", "refunded")
            promo = line.get("promo_id")
            items.append(
                {
                    "id": line_gid,
                    "sku": line["sku_id"],
                    "quantity": line["quantity"],
                    "unfulfilledQuantity": 0 if shipped else line["quantity"],
                    "originalUnitPriceSet": _money(line["unit_price"]),
                    "discountedTotalSet": _money(line["pay_amount"]),
                    "discountAllocations": [{"discountApplication": {"title": promo}}]
                    if promo
                    else [],
                }
            )
        closed = statuses <= {"completed", "refunded", "cancelled"} and "completed" in statuses
        paid = first.get("paid_at")
        if all_cancelled:
            financial = "VOIDED"
        elif "refunded" in statuses:
            financial = "REFUNDED" if statuses == {"refunded"} else "PARTIALLY_REFUNDED"
        else:
            financial = "PAID" if paid else "PENDING"
        return {
            "id": f"gid://shopify/Order/{number}",
            "name": f"#{order_id}",
            "createdAt": _z(_ts(first["created_at"])),
            "updatedAt": _z(updated),
            "cancelledAt": _z(updated) if all_cancelled else None,
            "closedAt": _z(updated) if closed else None,
            "displayFinancialStatus": financial,
            "sourceName": "web",
            "customer": {"id": f"gid://shopify/Customer/{int(first['buyer_id'][1:])}"},
            "customerJourneySummary": {"lastVisit": {"source": first["source"]}},
            "transactions": [{"kind": "SALE", "status": "SUCCESS", "processedAt": _z(_ts(paid))}]
            if paid
            else [],
            "refunds": [
                {
                    "id": f"gid://shopify/Refund/{number * 100 + k}",
                    "createdAt": _z(at),
                    "refundLineItems": {"nodes": refund_lines},
                }
                for k, (at, refund_lines) in enumerate(sorted(refunds.items()))
            ],
            "lineItems": {"nodes": items},
        }

    def shipments(self, query: str) -> list[dict[str, Any]]:
        """Orders whose shipment changed in the query's updated_at range, as they stand at its
        end: one fulfillment order due at the promise, a fulfillment when shipped, a return."""
        since, until = self._bounds(query)
        start = None if since is None else datetime.fromtimestamp(since, UTC)
        latest: dict[str, dict[str, Any]] = {}
        for record in self.sim.records("shipments", start, datetime.fromtimestamp(until, UTC)):
            try:
                promised = _z(_ts(record["promised_ship_by"]))
                updated = _z(_ts(record["updated_at"]))
            except (KeyError, TypeError, ValueError):
                continue  # the export's injected dirt: a typed platform could not hold it
            latest[str(record["order_id"])] = dict(
                record, promised_ship_by=promised, updated_at=updated
            )
        return [self._shipment(r) for r in sorted(latest.values(), key=lambda r: r["updated_at"])]

    @staticmethod
    def _shipment(record: dict[str, Any]) -> dict[str, Any]:
        shipped, returned = record.get("shipped_at"), record.get("returned_at")
        returns = []
        if returned:
            reason, note = SHOPIFY_REASONS.get(str(record.get("return_reason")), ("UNKNOWN", None))
            returns.append(
                {
                    "createdAt": _z(_ts(returned)),
                    "status": "OPEN",
                    "returnLineItems": {
                        "nodes": [{"returnReason": reason, "returnReasonNote": note}]
                    },
                }
            )
        return {
            "name": f"#{record['order_id']}",
            "updatedAt": record["updated_at"],
            "fulfillmentOrders": {
                "nodes": [
                    {
                        "fulfillBy": record["promised_ship_by"],
                        "status": "CLOSED" if shipped else "OPEN",
                    }
                ]
            },
            "fulfillments": [{"createdAt": _z(_ts(shipped)), "status": "SUCCESS"}]
            if shipped
            else [],
            "returns": {"nodes": returns},
        }

    # -- bulk operations ------------------------------------------------------------------

    def _bulk_run(self, text: str) -> dict[str, Any]:
        if not re.search(r"\borders\s*\(", text):
            return {
                "bulkOperation": None,
                "userErrors": [
                    {"field": ["query"], "message": "the simulated store bulk-reads orders only"}
                ],
            }
        lines: list[bytes] = []
        for order in self.orders(text):
            items = order.pop("lineItems")["nodes"]
            refund_lines = []
            for refund in order["refunds"]:
                for node in refund.pop("refundLineItems")["nodes"]:
                    refund_lines.append(dict(node, __parentId=refund["id"]))
            lines.append(orjson.dumps(order))
            lines += [orjson.dumps(dict(item, __parentId=order["id"])) for item in items]
            lines += [orjson.dumps(node) for node in refund_lines]
        op_id = f"gid://shopify/BulkOperation/{len(self._bulk) + 1}"
        self._bulk[op_id] = BulkOperation(
            op_id, b"\n".join(lines) + (b"\n" if lines else b""), len(lines), secrets.token_hex(8)
        )
        return {"bulkOperation": {"id": op_id, "status": "CREATED"}, "userErrors": []}

    def _bulk_poll(self, op_id: str, base_url: str) -> dict[str, Any] | None:
        op = self._bulk.get(op_id)
        if op is None:
            return None
        op.polls += 1
        done = op.polls > self.polls_until_done
        url = f"{base_url.rstrip('/')}/bulk/{op.key}.jsonl" if done and op.objects else None
        return {
            "id": op.op_id,
            "status": "COMPLETED" if done else "RUNNING",
            "errorCode": None,
            "objectCount": str(op.objects if done else op.objects // 2),
            "url": url,
            "partialDataUrl": None,
        }

    def download(self, key: str) -> bytes | None:
        """A bulk result by the key in its URL (the emulated signed link)."""
        for op in self._bulk.values():
            if hmac.compare_digest(op.key, key):
                return op.body
        return None

    # -- catalog, stock, discounts, sessions ----------------------------------------------

    def products(self, query: str) -> list[dict[str, Any]]:
        """One product per SKU with a single variant, as it stands at the query's end."""
        since, until = self._bounds(query)
        latest: dict[str, tuple[int, dict[str, Any]]] = {}
        for ts, row in datasets.product_rows(self.sim):
            if ts < until:
                latest[row["sku_id"]] = (ts, row)
        nodes = []
        for ts, row in sorted(latest.values(), key=lambda p: (p[0], p[1]["sku_id"])):
            if since is not None and ts < since:
                continue
            nodes.append(
                {
                    "id": f"gid://shopify/Product/{row['sku_id']}",
                    "title": row["title"],
                    "productType": row["category"],
                    "updatedAt": _z(ts),
                    "safetyStock": {"value": str(row["safety_stock"])},
                    "variants": {
                        "nodes": [
                            {
                                "sku": row["sku_id"],
                                "price": f"{row['list_price']:.2f}",
                                "compareAtPrice": None,
                            }
                        ]
                    },
                }
            )
        return nodes

    def variants(self) -> list[dict[str, Any]]:
        """Every variant with its inventory levels (available, committed) per location, now."""
        h = min(self.sim.clock.hours - 1, max(0, self.sim.clock.hour_of(self.now_ts - 1)))
        by_sku: dict[str, list[dict[str, Any]]] = {}
        for row in datasets.inventory_rows(self.sim, h):
            by_sku.setdefault(row["sku_id"], []).append(
                {
                    "location": {"name": row["warehouse"]},
                    "quantities": [
                        {"name": "available", "quantity": row["on_hand"] - row["reserved"]},
                        {"name": "committed", "quantity": row["reserved"]},
                    ],
                }
            )
        return [
            {"sku": sku, "inventoryItem": {"inventoryLevels": {"nodes": levels}}}
            for sku, levels in sorted(by_sku.items())
        ]

    def discounts(self) -> list[dict[str, Any]]:
        """Each promotion, as last changed before now, as an automatic discount."""
        latest: dict[str, tuple[int, dict[str, Any]]] = {}
        for ts, row in datasets.promotion_rows(self.sim):
            if ts < self.now_ts:
                latest[row["promo_id"]] = (ts, row)
        prices = {
            row["sku_id"]: row["list_price"]
            for ts, row in datasets.product_rows(self.sim)
            if ts < self.now_ts
        }
        nodes: list[dict[str, Any]] = []
        for ts, row in sorted(latest.values(), key=lambda p: (p[0], p[1]["promo_id"])):
            common = {
                "__typename": "DiscountAutomaticBasic",
                "title": row["promo_id"],
                "startsAt": _z(_ts(row["starts_at"])),
                "endsAt": _z(_ts(row["ends_at"])),
                "updatedAt": _z(ts),
            }
            if row["kind"] == "full_reduction":
                discount = dict(
                    common,
                    minimumRequirement={
                        "greaterThanOrEqualToSubtotal": {"amount": f"{row['threshold_amount']:.2f}"}
                    },
                    customerGets={
                        "value": {
                            "amount": {"amount": f"{row['discount_amount']:.2f}"},
                            "appliesOnEachItem": False,
                        },
                        "items": {"allItems": True},
                    },
                )
            else:
                items = row["items"]
                base = prices.get(items[0]["sku_id"]) if items else None
                pct = round(1 - items[0]["promo_price"] / base, 2) if base else 0.0
                discount = dict(
                    common,
                    minimumRequirement=None,
                    customerGets={
                        "value": {"percentage": pct},
                        "items": {
                            "productVariants": {
                                "nodes": [
                                    {
                                        "sku": i["sku_id"],
                                        "price": f"{prices.get(i['sku_id'], 0):.2f}",
                                    }
                                    for i in items
                                ]
                            }
                        },
                    },
                )
            nodes.append(
                {
                    "id": f"gid://shopify/DiscountAutomaticNode/{len(nodes) + 1}",
                    "discount": discount,
                }
            )
        return nodes

    def _sessions(self, shopifyql: str) -> dict[str, Any]:
        since, until = _QL_SINCE.search(shopifyql), _QL_UNTIL.search(shopifyql)
        if not shopifyql.lstrip().upper().startswith("FROM SESSIONS") or not (since and until):
            return {
                "parseErrors": [
                    "the simulated store answers FROM sessions ... SINCE ... UNTIL ..."
                ],
                "tableData": None,
            }
        # absolute date-times in the query's TIMEZONE (UTC here); UNTIL is inclusive
        start = datetime.fromisoformat(since.group(1)).replace(tzinfo=UTC)
        end = datetime.fromisoformat(until.group(1)).replace(tzinfo=UTC) + timedelta(seconds=1)
        records = [
            r
            for r in self.sim.records("traffic", start, end)
            if all(isinstance(r.get(k), int) and r[k] >= 0 for k in _COUNTS)
            and isinstance(r.get("source"), str)
            and isinstance(r.get("hour"), str)
            and r["hour"][:4].isdigit()
        ]
        columns = [
            {"name": "hour", "dataType": "HOUR_TIMESTAMP"},
            {"name": "referrer_source", "dataType": "STRING"},
            {"name": "sessions", "dataType": "INTEGER"},
            {"name": "online_store_visitors", "dataType": "INTEGER"},
            {"name": "pageviews", "dataType": "INTEGER"},
            {"name": "sessions_with_cart_additions", "dataType": "INTEGER"},
            {"name": "bounce_rate", "dataType": "PERCENT"},
        ]
        if not records:
            return {"parseErrors": [], "tableData": {"columns": columns, "rows": []}}
        hourly = (
            pl.DataFrame(records)
            .group_by("hour", "source", maintain_order=True)
            .agg(pl.col("visitors", "page_views", "bounces", "add_to_cart").sum())
        )
        rows = [
            {
                "hour": datetime.fromisoformat(r["hour"]).astimezone(UTC).strftime("%Y-%m-%dT%H"),
                "referrer_source": r["source"],
                "sessions": r["visitors"],
                "online_store_visitors": r["visitors"],
                "pageviews": r["page_views"],
                "sessions_with_cart_additions": r["add_to_cart"],
                "bounce_rate": r["bounces"] / r["visitors"] if r["visitors"] else 0.0,
            }
            for r in hourly.iter_rows(named=True)
        ]
        return {"parseErrors": [], "tableData": {"columns": columns, "rows": rows}}


def create_shopify_app(emulator: ShopifyEmulator) -> Starlette:
    """A Starlette app serving the emulated Admin GraphQL API and bulk result downloads."""
    expected = emulator.token.encode()

    async def graphql(request: Request) -> Response:
        given = request.headers.get("x-shopify-access-token", "").encode()
        if not hmac.compare_digest(given, expected):
            return Response(
                orjson.dumps({"errors": INVALID_TOKEN}), 401, media_type="application/json"
            )
        try:
            doc = orjson.loads(await request.body())
            query, variables = str(doc["query"]), dict(doc.get("variables") or {})
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            problem = [{"message": "Parse error: the body is not {query, variables}"}]
            return Response(orjson.dumps({"errors": problem}), 400, media_type="application/json")
        answer = emulator.answer(query, variables, str(request.base_url))
        return Response(orjson.dumps(answer), 200, media_type="application/json")

    async def bulk(request: Request) -> Response:
        body = emulator.download(request.path_params["key"])
        if body is None:
            return Response(b"not found", 404)
        return Response(body, 200, media_type="application/jsonl")

    return Starlette(
        routes=[
            Route("/admin/api/{version}/graphql.json", graphql, methods=["POST"]),
            Route("/bulk/{key}.jsonl", bulk, methods=["GET"]),
        ]
    )


class ShopifyServer(SimulatorServer):
    """Serves the Shopify emulation in a background thread: `with ShopifyServer(sim) as s:`."""

    def __init__(self, sim: Simulator, token: str = "test-token", **kwargs: Any) -> None:
        host = kwargs.pop("host", "127.0.0.1")
        port = kwargs.pop("port", 0)
        super().__init__(sim, token, host, port)
        self.emulator = ShopifyEmulator(sim, token, **kwargs)

    def app(self) -> Starlette:
        return create_shopify_app(self.emulator)

    def __enter__(self) -> ShopifyServer:
        self.start()
        return self


def serve_shopify(scenario: str, seed: int, port: int, token: str) -> None:
    """Serve a scenario as a Shopify store until interrupted (blocking)."""
    import uvicorn

    if not token:
        raise ValueError("an access token is required to serve the Shopify emulation")
    sim = Simulator(scenario, seed)
    app = create_shopify_app(ShopifyEmulator(sim, token))
    uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    ).run()
