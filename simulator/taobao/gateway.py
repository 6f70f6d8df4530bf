"""A TOP-shaped gateway over the simulated shop: signed calls, error_response, simplify.

POST (or GET) /router/rest with TOP's public parameters. The gateway checks app_key, session,
timestamp format, v and the signature, and answers errors in TOP's envelope:
{"error_response": {"code", "msg", "sub_code", "sub_msg", "request_id"}}. A scenario's export
outages answer code 15 with an isp.* sub_code; its rate-limit storms answer code 7
(App Call Limited) whose sub_msg names the ban time, as the platform does.
"""

from __future__ import annotations

import hmac
import threading
from collections import deque
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulator.simulation import Simulator
from simulator.taobao.service import ServiceBook
from simulator.taobao.signature import expected_sign
from simulator.taobao.trades import CHINA, ITEM_BASE, TradeBook

__all__ = ["TopCredentials", "create_top_app", "error_body"]

MAX_INCREMENT_PAGE = 100
MAX_RATES_PAGE = 150
MAX_REFUNDS_PAGE = 100
MAX_WINDOW = timedelta(days=1)
_ATTEMPTS_KEPT = 100_000


class TopCredentials:
    """The app key, secret and seller session the gateway accepts."""

    def __init__(self, app_key: str, app_secret: str, session: str) -> None:
        self.app_key = app_key
        self.app_secret = app_secret
        self.session = session


def error_body(
    code: int, msg: str, sub_code: str | None = None, sub_msg: str | None = None
) -> dict[str, Any]:
    """TOP's error envelope."""
    error: dict[str, Any] = {"code": code, "msg": msg}
    if sub_code:
        error["sub_code"] = sub_code
    if sub_msg:
        error["sub_msg"] = sub_msg
    error["request_id"] = "sim" + format(abs(hash((code, msg, sub_code))) % 36**8, "x")
    return {"error_response": error}


class _Refusal(Exception):
    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body["error_response"]["msg"])
        self.body = body


def _time(params: dict[str, str], name: str) -> datetime:
    try:
        return datetime.strptime(params[name], "%Y-%m-%d %H:%M:%S").replace(tzinfo=CHINA)
    except (KeyError, ValueError):
        raise _Refusal(
            error_body(41, "Invalid Arguments", "isv.invalid-parameter", f"{name} is invalid")
        ) from None


def _int(params: dict[str, str], name: str, default: int, top: int) -> int:
    try:
        value = int(params.get(name, default))
    except ValueError:
        value = -1
    if not 1 <= value <= top:
        raise _Refusal(
            error_body(41, "Invalid Arguments", "isv.invalid-parameter", f"{name} is invalid")
        )
    return value


class _Shop:
    """The calls the gateway serves, over one simulator."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.book = TradeBook(sim)
        self.service = ServiceBook(sim)

    def serve(self, method: str, params: dict[str, str]) -> tuple[str, dict[str, Any]]:
        if method == "taobao.trades.sold.increment.get":
            return "trades", self.increment(params)
        if method == "taobao.traderates.get":
            return "trade_rates", self.rates(params)
        if method == "taobao.refunds.receive.get":
            return "refunds", self.refunds(params)
        if method == "taobao.refund.get":
            return "refund", self.refund(params)
        if method == "taobao.items.onsale.get":
            return "items", self.listing(params, on_sale=True)
        if method == "taobao.items.inventory.get":
            return "items", self.listing(params, on_sale=False)
        if method == "taobao.items.seller.list.get":
            return "items", self.details(params)
        raise _Refusal(error_body(22, "Invalid method", "isv.method-not-exist", method))

    def increment(self, params: dict[str, str]) -> dict[str, Any]:
        start, end = _time(params, "start_modified"), _time(params, "end_modified")
        if end < start or end - start > MAX_WINDOW:
            raise _Refusal(
                error_body(
                    41,
                    "Invalid Arguments",
                    "isv.invalid-parameter",
                    "end_modified - start_modified must be between 0 and 1 day",
                )
            )
        size = _int(params, "page_size", 40, MAX_INCREMENT_PAGE)
        page = _int(params, "page_no", 1, 10**9)
        fields = set(params.get("fields", "").split(","))
        # the shipping fields: the shipment view of the trades (simulator/taobao/service.py)
        shipping = "orders.est_con_time" in fields
        trades = self.service.trades(start, end) if shipping else self.book.trades(start, end)
        chosen = trades[(page - 1) * size : page * size]
        if fields == {"tid"}:
            chosen = [{"tid": t["tid"]} for t in chosen]
        body: dict[str, Any] = {"trades": chosen, "has_next": page * size < len(trades)}
        if params.get("use_has_next") != "true":
            body["total_results"] = len(trades)
        return body

    def rates(self, params: dict[str, str]) -> dict[str, Any]:
        if params.get("rate_type") != "get" or params.get("role") != "buyer":
            raise _Refusal(
                error_body(41, "Invalid Arguments", "isv.invalid-parameter", "rate_type/role")
            )
        start, end = _time(params, "start_date"), _time(params, "end_date")
        size = _int(params, "page_size", 40, MAX_RATES_PAGE)
        page = _int(params, "page_no", 1, 200)
        rates = self.service.rates(start, end)
        chosen = rates[(page - 1) * size : page * size]
        return {
            "trade_rates": chosen,
            "total_results": len(rates),
            "has_next": page * size < len(rates),
        }

    def refunds(self, params: dict[str, str]) -> dict[str, Any]:
        start, end = _time(params, "start_modified"), _time(params, "end_modified")
        size = _int(params, "page_size", 40, MAX_REFUNDS_PAGE)
        page = _int(params, "page_no", 1, 10**9)
        found = self.service.refunds(start, end)
        chosen = found[(page - 1) * size : page * size]
        body: dict[str, Any] = {"refunds": chosen, "has_next": page * size < len(found)}
        if params.get("use_has_next") != "true":
            body["total_results"] = len(found)
        return body

    def refund(self, params: dict[str, str]) -> dict[str, Any]:
        try:
            refund = self.service.refund(int(params.get("refund_id", "")))
        except ValueError:
            refund = None
        if refund is None:
            raise _Refusal(
                error_body(15, "Remote service error", "isv.refund-not-exist", "refund_id")
            )
        return {"refund": refund}

    def listing(self, params: dict[str, str], *, on_sale: bool) -> dict[str, Any]:
        size = _int(params, "page_size", 40, 200)
        page = _int(params, "page_no", 1, 10**9)
        ids = [ITEM_BASE + k for k in range(self.sim.spec.skus)] if on_sale else []
        chosen = ids[(page - 1) * size : page * size]
        return {"items": [{"num_iid": i} for i in chosen], "total_results": len(ids)}

    def details(self, params: dict[str, str]) -> dict[str, Any]:
        try:
            ids = [int(i) - ITEM_BASE for i in params.get("num_iids", "").split(",") if i]
        except ValueError:
            ids = [-1]
        if not 1 <= len(ids) <= 20 or not all(0 <= k < self.sim.spec.skus for k in ids):
            raise _Refusal(error_body(41, "Invalid Arguments", "isv.invalid-parameter", "num_iids"))
        cat, tl, clock = self.sim.catalog, self.sim.timeline, self.sim.clock
        latest = {}
        for version in sorted(self.sim.product_versions, key=lambda v: v.updated_ts):
            latest[version.sku] = version
        items = []
        for k in ids:
            version = latest[k]
            modified = datetime.fromtimestamp(version.updated_ts, CHINA)
            stamp = modified.strftime("%Y-%m-%d %H:%M:%S")
            price = f"{version.list_cents / 100:.2f}"
            items.append(
                {
                    "num_iid": ITEM_BASE + k,
                    "title": cat.titles[k],
                    "cid": 50000000 + int(cat.category[k]),
                    "approve_status": "onsale",
                    "price": price,
                    "num": int(tl.on_hand[clock.hours - 1, k]),
                    "outer_id": cat.sku_ids[k],
                    "modified": stamp,
                    "skus": [
                        {
                            "sku_id": ITEM_BASE * 10 + k,
                            "outer_id": cat.sku_ids[k],
                            "price": price,
                            "quantity": int(
                                tl.on_hand[clock.hours - 1, k] - tl.reserved[clock.hours - 1, k]
                            ),
                            "with_hold_quantity": int(tl.reserved[clock.hours - 1, k]),
                            "modified": stamp,
                            "status": "normal",
                        }
                    ],
                }
            )
        return {"items": items}


def _unsimplified(method: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
    # without simplify, lists are wrapped ({"trades": {"trade": [...]}}) and so is the response
    if key == "refund":  # one object, not a list
        return {method.removeprefix("taobao.").replace(".", "_") + "_response": body}
    inner = key[:-1]
    wrapped = dict(body)
    rows = []
    for row in body.get(key, []):
        row = dict(row)
        if isinstance(row.get("orders"), list):
            row["orders"] = {"order": row["orders"]}
        if isinstance(row.get("skus"), list):
            row["skus"] = {"sku": row["skus"]}
        rows.append(row)
    wrapped[key] = {inner: rows}
    return {method.removeprefix("taobao.").replace(".", "_") + "_response": wrapped}


def create_top_app(
    sim: Simulator,
    credentials: TopCredentials,
    *,
    incidents: list[tuple[str, dict[str, Any]]] | None = None,
) -> Starlette:
    """A Starlette app serving TOP calls over `sim`.

    `incidents` are error envelopes answered, in order, to the next calls of a method
    (method "*" matches any): a session that expires, a permission withdrawn, a ban.
    """
    shop = _Shop(sim)
    queued: deque[tuple[str, dict[str, Any]]] = deque(incidents or [])
    attempts: dict[tuple[tuple[str, str], ...], int] = {}
    # the simulated "now": the newest end_modified asked for (see scenario_fault)
    frontier = [float("-inf")]
    lock = threading.Lock()

    def check(params: dict[str, str]) -> None:
        for name in ("method", "app_key", "timestamp", "v", "sign"):
            if not params.get(name):
                code = {"method": 21, "app_key": 28, "sign": 24}.get(name, 41)
                raise _Refusal(error_body(code, f"Missing {name}"))
        if params["app_key"] != credentials.app_key:
            raise _Refusal(error_body(29, "Invalid app Key", "isv.appkey-not-exists"))
        expected = expected_sign(params, credentials.app_secret)
        if expected is None or not hmac.compare_digest(params["sign"].upper(), expected):
            raise _Refusal(error_body(25, "Invalid signature"))
        if not params.get("session"):
            raise _Refusal(error_body(26, "Missing session"))
        if not hmac.compare_digest(params["session"], credentials.session):
            raise _Refusal(
                error_body(27, "Invalid session", "invalid-sessionkey", "SessionKey非法")
            )
        _time(params, "timestamp")
        if params["v"] != "2.0":
            raise _Refusal(error_body(41, "Invalid Arguments", "isv.invalid-parameter", "v"))

    def scenario_fault(method: str, params: dict[str, str]) -> None:
        # A scenario's outage is the gateway being down at a moment of the simulated clock. A
        # client reads up to its "now", in one-day windows oldest first, so the newest
        # end_modified asked for stands for now: only a window reaching it meets the outage.
        # An older window whose end lies in the outage (a lookback re-read a day later) is
        # served, or a run would fail every hour its watermark cannot pass.
        if method != "taobao.trades.sold.increment.get":
            return
        until = _time(params, "end_modified") + timedelta(seconds=1)
        key = tuple(sorted((k, v) for k, v in params.items() if k not in ("timestamp", "sign")))
        with lock:
            frontier[0] = max(frontier[0], until.timestamp())
            if until.timestamp() < frontier[0]:
                return
            if len(attempts) > _ATTEMPTS_KEPT:
                attempts.clear()
            attempt = attempts.get(key, 0)
            attempts[key] = attempt + 1
        fault = sim.fault("orders", None, until, attempt)
        if fault is None:
            return
        if fault.status == 429:
            raise _Refusal(
                error_body(
                    7,
                    "App Call Limited",
                    "accesscontrol.limited-by-app-access-count",
                    f"This ban will last for {fault.retry_after or 1} more seconds",
                )
            )
        raise _Refusal(error_body(15, "Remote service error", "isp.top-remote-connection-timeout"))

    async def rest(request: Request) -> Response:
        params = dict(request.query_params)
        if request.method == "POST":
            # application/x-www-form-urlencoded, parsed without python-multipart
            params.update(parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True))
        method = params.get("method", "")
        try:
            check(params)
            with lock:
                incident = next((i for i in queued if i[0] in (method, "*")), None)
                if incident is not None:
                    queued.remove(incident)
            if incident is not None:
                raise _Refusal(incident[1])
            scenario_fault(method, params)
            key, body = shop.serve(method, params)
        except _Refusal as refusal:
            return Response(orjson.dumps(refusal.body), 200, media_type="application/json")
        if params.get("simplify") != "true":
            body = _unsimplified(method, key, body)
        return Response(orjson.dumps(body), 200, media_type="application/json")

    return Starlette(routes=[Route("/router/rest", rest, methods=["GET", "POST"])])
