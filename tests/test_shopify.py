"""The Shopify source against the simulator's Shopify emulation on loopback: the paginated and
bulk paths agree, the KPIs equal the export source's, throttling, scopes and the token."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flows.pipeline import Window, load_dataset, run_hour
from flows.rebuild import BackfillRequest, plain_backfill
from flows.settings import Settings, parse_settings
from flows.warehouse import Warehouse
from simulator import ShopSpec, Simulator
from simulator.shopify import ALL_SCOPES, ShopifyServer
from sources import SourceSettings, make_source
from sources.shopify import ShopifySource, missing_scopes
from sources.shopify.errors import ShopifyAccessError
from sources.simulated import SimulatorSource

SPEC = ShopSpec(skus=12, visitors_per_day=4000, days=4)
TOKEN = "shpat_test_token_0123456789"
BIG = {"maximum": 1e9, "restore_rate": 1e9}


@pytest.fixture(scope="module")
def sim() -> Simulator:
    return Simulator("normal", 3, SPEC)


@pytest.fixture(scope="module")
def store(sim: Simulator) -> Iterator[ShopifyServer]:
    with ShopifyServer(sim, token=TOKEN, **BIG) as server:
        yield server


def source_settings(base_url: str, token: str = TOKEN, **over: Any) -> dict[str, Any]:
    return {
        "kind": "shopify",
        "shop": "sim-shop.myshopify.com",
        "access_token": token,
        "base_url": base_url,
        **over,
    }


def shop_settings(path: Path, source: dict[str, Any]) -> Settings:
    return parse_settings(
        {
            "shop": {"name": "sim-shop", "timezone": SPEC.timezone},
            "source": source,
            "warehouse": {"path": str(path)},
        }
    )


def shopify(base_url: str, **over: Any) -> ShopifySource:
    return ShopifySource(SourceSettings(**source_settings(base_url, **over)), bulk_poll_seconds=0)


def rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with Warehouse(path, read_only=True) as wh:
        return wh.rows(sql)


def test_settings_require_the_shop_and_token_and_mask_it() -> None:
    with pytest.raises(ValueError, match=r"source\.shop is required"):
        SourceSettings(kind="shopify", access_token=TOKEN)
    with pytest.raises(ValueError, match=r"source\.access_token is required"):
        SourceSettings(kind="shopify", shop="a-shop.myshopify.com")
    with pytest.raises(ValueError, match=r"source\.api_version"):
        SourceSettings(
            kind="shopify", shop="a-shop.myshopify.com", access_token=TOKEN, api_version="latest"
        )
    settings = SourceSettings(kind="shopify", shop="a-shop.myshopify.com", access_token=TOKEN)
    assert TOKEN not in repr(settings) and TOKEN not in settings.model_dump_json()
    assert isinstance(make_source(settings), ShopifySource)


def test_incremental_and_bulk_paths_give_identical_core_orders(
    sim: Simulator, store: ShopifyServer, tmp_path: Path
) -> None:
    until = SPEC.end.astimezone(UTC) - timedelta(hours=5)
    window = Window("orders", until - timedelta(days=2), until)
    store.emulator.set_now(until)
    tables = {}
    for path in ("pages", "bulk"):
        source = shopify(store.base_url)
        source.force = path
        with closing(source), Warehouse(tmp_path / f"{path}.duckdb") as wh:
            result = load_dataset(wh, source, window, f"b-{path}")
            assert result.loaded > 100 and result.quarantined == 0
            tables[path] = wh.rows("select * from core.orders order by order_id, sku_id")
    assert tables["pages"] == tables["bulk"]


def test_kpis_equal_through_the_export_and_the_shopify_source(
    sim: Simulator, store: ShopifyServer, tmp_path: Path
) -> None:
    until = SPEC.end.astimezone(UTC) - timedelta(hours=3)
    store.emulator.set_now(until)
    whole = {"lookback_hours": SPEC.hours}
    export = shop_settings(tmp_path / "export.duckdb", {"base_url": "http://127.0.0.1:1", **whole})
    shop = shop_settings(tmp_path / "shopify.duckdb", source_settings(store.base_url, **whole))
    with Warehouse(export.warehouse.path) as wh:
        run_hour(wh, export, SimulatorSource(sim), until)
    with Warehouse(shop.warehouse.path) as wh, closing(make_source(shop.source)) as source:
        run = run_hour(wh, shop, source, until)
    # Shopify has no search keywords, chats or reviews in its Admin API
    assert run.failures == {}
    assert set(run.not_provided) == {"keywords", "service_chats", "reviews"}
    # Shopify has no favorites (wishlists): everything else of the hourly KPIs is equal
    for table, key in (("mart.kpi_hourly", "hour"), ("mart.kpi_hourly_by_source", "hour, source")):
        sql = f"select * exclude (favorites) from {table} order by {key}"
        expected = rows(export.warehouse.path, sql)
        assert len(expected) > 48
        assert rows(shop.warehouse.path, sql) == expected
    assert rows(shop.warehouse.path, "select count(*) from core.keywords") == [(0,)]


def test_a_throttled_query_waits_for_the_restore_rate_and_retries(sim: Simulator) -> None:
    # an empty bucket: the first query is THROTTLED and must wait for points to come back
    with ShopifyServer(sim, token=TOKEN, maximum=1000, restore_rate=5000, available=0) as server:
        until = SPEC.end.astimezone(UTC) - timedelta(hours=5)
        server.emulator.set_now(until)
        with closing(shopify(server.base_url, max_query_cost=400)) as source:
            source.force = "pages"
            got = sum(p.count for p in source.pages("orders", until - timedelta(hours=6), until))
            assert server.emulator.throttled >= 1
            assert source.client.throttled >= 1 and source.client.throttle_wait_seconds > 0
            assert source.client.bucket.maximum == 1000
    with (
        ShopifyServer(sim, token=TOKEN, **BIG) as server,
        closing(shopify(server.base_url)) as plain,
    ):
        server.emulator.set_now(until)
        plain.force = "pages"
        assert got == sum(p.count for p in plain.pages("orders", until - timedelta(hours=6), until))


def test_a_bad_token_fails_at_once_without_the_token(store: ShopifyServer) -> None:
    wrong = "shpat_wrong_token_abcdef"
    source = shopify(store.base_url, token=wrong)
    with closing(source), pytest.raises(ShopifyAccessError, match="HTTP 401") as caught:
        list(source.pages("products", None, SPEC.end))
    assert wrong not in str(caught.value) and TOKEN not in str(caught.value)
    assert source.client.requests == 1


def test_a_missing_scope_is_named(sim: Simulator) -> None:
    scopes = tuple(s for s in ALL_SCOPES if s != "read_reports")
    with (
        ShopifyServer(sim, token=TOKEN, scopes=scopes, **BIG) as server,
        closing(shopify(server.base_url)) as source,
    ):
        assert missing_scopes(source) == ["read_reports"]
        with pytest.raises(ShopifyAccessError, match="read_reports") as caught:
            list(source.pages("traffic", SPEC.end - timedelta(hours=3), SPEC.end))
        assert TOKEN not in str(caught.value)
        assert source.client.requests == 2


def test_keywords_are_not_provided(store: ShopifyServer) -> None:
    with closing(shopify(store.base_url)) as source:
        assert "keywords" not in source.provides
        assert {"orders", "traffic", "inventory", "products", "promotions"} <= source.provides


def test_products_promotions_and_inventory_map_onto_export_records(
    sim: Simulator, store: ShopifyServer
) -> None:
    import orjson

    until = SPEC.end.astimezone(UTC)
    store.emulator.set_now(until)
    with closing(shopify(store.base_url)) as source:
        products = [r for p in source.pages("products", None, until) for r in _items(p)]
        promos = [r for p in source.pages("promotions", None, until) for r in _items(p)]
        stock = [r for p in source.pages("inventory", None, until) for r in _items(p)]
    assert {r["sku_id"] for r in products} == set(sim.catalog.sku_ids)
    assert all(r["lowest_price_90d"] is None and r["safety_stock"] >= 0 for r in products)
    assert len(stock) == SPEC.skus and all(r["warehouse"] == "all" for r in stock)
    reduction = [r for r in promos if r["kind"] == "full_reduction"]
    for r in reduction:
        assert r["threshold_amount"] > 0 and r["discount_amount"] > 0
    assert orjson.dumps(promos)


def test_shipments_map_fulfillment_orders_fulfillments_and_returns() -> None:
    # the seller_day scenario's wrong-address batch: returns of every reason around it
    sim = Simulator("seller_day", 3, ShopSpec(skus=12, visitors_per_day=6000))
    [batch] = [i for i in sim.truth(reviews=False) if i.alertname == "return_spike"]
    since = batch.start.astimezone(UTC) - timedelta(days=1)
    until = batch.end.astimezone(UTC) + timedelta(days=1)
    with ShopifyServer(sim, token=TOKEN, **BIG) as server, closing(shopify(server.base_url)) as src:
        server.emulator.set_now(until)
        got = [r for p in src.pages("shipments", since, until) for r in _items(p)]
    # the export's records of the window, each order's latest version (dirt left out)
    expected: dict[str, dict[str, Any]] = {}
    for r in sim.records("shipments", since, until):
        try:
            _utc(r["promised_ship_by"]), _utc(r["updated_at"])
        except (KeyError, TypeError, ValueError):
            continue
        expected[r["order_id"]] = r
    assert len(got) == len(expected) > 100
    assert sum(r["return_reason"] == "wrong_address" for r in got) > 5  # OTHER, by its note
    assert len({r["return_reason"] for r in got}) >= 4
    assert sum(r["shipped_at"] is None for r in got) > 5
    reasons = {"damaged": "quality", "other": "other"}  # DEFECTIVE and OTHER without a note
    for r in got:
        e = expected[r["order_id"]]
        # promised_ship_by ← FulfillmentOrder.fulfillBy; shipped_at ← Fulfillment.createdAt
        assert _utc(r["promised_ship_by"]) == _utc(e["promised_ship_by"])
        assert (r["shipped_at"] and _utc(r["shipped_at"])) == (
            e["shipped_at"] and _utc(e["shipped_at"])
        )
        # returned_at ← Return.createdAt; return_reason ← ReturnLineItem.returnReason (note)
        assert (r["returned_at"] and _utc(r["returned_at"])) == (
            e["returned_at"] and _utc(e["returned_at"])
        )
        reason = e["return_reason"]
        assert r["return_reason"] == (reasons.get(reason, reason) if reason else None)
        assert _utc(r["updated_at"]) == _utc(e["updated_at"])
        assert since <= _utc(r["updated_at"]) < until


def test_return_reasons_map_onto_the_shared_reasons() -> None:
    from sources.shopify.mapping import return_reason, shipment_records

    assert return_reason("SIZE_TOO_LARGE", None) == "size_fit"
    assert return_reason("DEFECTIVE", None) == "quality"
    assert return_reason("OTHER", " Wrong  address ") == "wrong_address"
    assert return_reason("OTHER", None) == "other"
    assert return_reason("WRONG_ITEM", None) == "wrong_item"
    node = {
        "name": "#1001",
        "updatedAt": "2026-11-11T10:00:00Z",
        "fulfillmentOrders": {
            "nodes": [
                {"fulfillBy": "2026-11-12T10:00:00Z", "status": "CLOSED"},
                {"fulfillBy": "2026-11-11T22:00:00Z", "status": "CLOSED"},
            ]
        },
        "fulfillments": [
            {"createdAt": "2026-11-11T09:00:00Z", "status": "CANCELLED"},
            {"createdAt": "2026-11-11T12:00:00Z", "status": "SUCCESS"},
        ],
        "returns": {
            "nodes": [
                {"createdAt": "2026-11-13T09:00:00Z", "status": "DECLINED",
                 "returnLineItems": {"nodes": [{"returnReason": "UNWANTED"}]}},
                {"createdAt": "2026-11-14T09:00:00Z", "status": "OPEN",
                 "returnLineItems": {"nodes": [{"returnReason": "NOT_AS_DESCRIBED"}]}},
            ]
        },
    }  # fmt: skip
    no_deadline = dict(node, name="#1002", fulfillmentOrders={"nodes": [{"fulfillBy": None}]})
    assert shipment_records([node, no_deadline]) == [
        {
            "order_id": "1001",
            "promised_ship_by": "2026-11-11T22:00:00Z",  # the earliest deadline
            "shipped_at": "2026-11-11T12:00:00Z",  # a cancelled fulfillment shipped nothing
            "returned_at": "2026-11-14T09:00:00Z",  # a declined return is no return
            "return_reason": "not_as_described",
            "updated_at": "2026-11-11T10:00:00Z",
        }
    ]


def _items(page: Any) -> list[dict[str, Any]]:
    import orjson

    return list(orjson.loads(page.text)["items"])


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_the_dashboard_says_keywords_are_not_provided(tmp_path: Path) -> None:
    from flows.dashboard import write_dashboard

    path = tmp_path / "empty.duckdb"
    Warehouse(path).close()
    for locale, words in (("en", "Not provided by this source."), ("zh-CN", "此数据源不提供")):
        settings = parse_settings(
            {
                "shop": {"name": "s", "timezone": SPEC.timezone, "locale": locale},
                "source": source_settings("http://127.0.0.1:9"),
                "warehouse": {"path": str(path)},
            }
        )
        html = write_dashboard(settings, tmp_path / "d.html").read_text("utf-8")
        assert words in html


def test_check_source_names_the_missing_scopes(sim: Simulator, tmp_path: Path) -> None:
    import yaml
    from typer.testing import CliRunner

    from flows.cli import app

    scopes = tuple(s for s in ALL_SCOPES if s not in ("read_reports", "read_discounts"))
    with ShopifyServer(sim, token=TOKEN, scopes=scopes, **BIG) as server:
        config = tmp_path / "shoppulse.yaml"
        source = source_settings(server.base_url, token="${SHOPIFY_ADMIN_TOKEN}")
        config.write_text(
            yaml.safe_dump(
                {
                    "shop": {"name": "s", "timezone": SPEC.timezone},
                    "source": source,
                    "warehouse": {"path": str(tmp_path / "w.duckdb")},
                }
            ),
            encoding="utf-8",
        )
        env = {"SHOPIFY_ADMIN_TOKEN": TOKEN}
        result = CliRunner().invoke(app, ["check-source", "--config", str(config)], env=env)
    assert result.exit_code != 0
    assert '"missing_scopes": [\n    "read_discounts",\n    "read_reports"\n  ]' in result.output
    assert "read_discounts, read_reports" in str(result.exception)
    assert TOKEN not in result.output and TOKEN not in str(result.exception)


def test_a_backfill_longer_than_a_day_reads_each_chunk_through_a_bulk_operation(
    store: ShopifyServer, tmp_path: Path
) -> None:
    end = SPEC.end.astimezone(UTC) - timedelta(hours=5)
    store.emulator.set_now(end)
    days = [end - timedelta(days=d) for d in (2, 1, 0)]

    def backfill(path: Path, start: datetime, stop: datetime) -> int:
        """Operations the store ran for the backfill of [start, stop)."""
        settings = shop_settings(path, source_settings(store.base_url))
        before = len(store.emulator._bulk)
        plain_backfill(settings, BackfillRequest(start, stop, "off", 24, False), workers=2)
        return len(store.emulator._bulk) - before

    bulk, paged = tmp_path / "bulk.duckdb", tmp_path / "paged.duckdb"
    assert backfill(bulk, days[0], days[-1]) == 3  # a chunk a local day, each one bulk query
    for start, stop in itertools.pairwise(days):  # a day or less at a time pages
        assert backfill(paged, start, stop) == 0
    orders = "select * from core.orders order by order_id, sku_id"
    assert rows(bulk, orders) == rows(paged, orders) != []
