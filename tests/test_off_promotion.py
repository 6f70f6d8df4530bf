"""conversion_drop's off-promotion scope: the SKUs outside the running promotions, judged
against days without a promotion, on a real DuckDB warehouse."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import orjson
import polars as pl
import pytest

from flows.warehouse import Warehouse, read_sql
from tests.flash_sale_shop import (
    END,
    HOUR,
    PLAIN,
    TS,
    H,
    Shop,
    baseline,
    drops,
    load,
    settings,
)
from transforms.off_promotion import OFF_PROMOTION, promoted_skus

OFF = (("scope", OFF_PROMOTION),)


@pytest.mark.parametrize(
    ("a_buyers", "off_buyers", "off_alert"),
    [
        # B and C lose 40% of their 120 expected buyers (a checkout fault) while the flash
        # sale lifts A: the shop's buyers look normal, the SKUs outside the sale do not
        (150, 36, True),
        # 17% down: under min_drop
        (150, 50, False),
        # only the promoted SKU changes, down to nothing or up fivefold: nothing outside it
        (0, 60, False),
        (300, 60, False),
    ],
)
def test_the_skus_outside_a_promotion_are_judged_against_plain_days(
    tmp_path: Path, a_buyers: int, off_buyers: int, off_alert: bool
) -> None:
    data = Shop()
    baseline(data)
    # the first flash sale starts with the evaluated hour: three times A's traffic
    data.hour(H, {"A": (3000, a_buyers), "B": (2000, off_buyers), "C": (2000, off_buyers)})
    config = settings(tmp_path / "shop.duckdb")
    with Warehouse(config.warehouse.path) as wh:
        load(wh, data, H)
        found = drops(wh, config, H)
    assert (OFF in found) is off_alert
    if off_alert:
        # the shop-wide rate is up (222 buyers of 7000 visitors against 3%): only the
        # off-promotion scope sees the drop, which the new kind's uplift hides
        assert set(found) == {OFF}
        alert = found[OFF]
        assert float(alert.annotations["drop"]) == pytest.approx(0.4, abs=0.01)
        assert "days without a promotion" in alert.annotations["description"]
        # its SKUs only, never the promoted one
        causes = alert.annotations["root_cause"]
        assert "SKU B" in causes and "SKU C" in causes and "SKU A" not in causes
        # about 48 buyers missing at the baseline's 100 a buyer
        assert alert.impact == pytest.approx(48 * 100.0, rel=0.03)


def test_the_off_promotion_scope_is_off_unless_configured(tmp_path: Path) -> None:
    data = Shop()
    baseline(data)
    data.hour(H, {"A": (3000, 150), "B": (2000, 36), "C": (2000, 36)})
    config = settings(tmp_path / "shop.duckdb", off_promotion=False)
    with Warehouse(config.warehouse.path) as wh:
        load(wh, data, H)
        assert drops(wh, config, H) == {}


def test_without_a_running_promotion_there_is_no_off_promotion_scope(tmp_path: Path) -> None:
    data = Shop()
    baseline(data)
    data.hour(H, {"A": (1000, 30), "B": (2000, 36), "C": (2000, 36)})
    config = settings(tmp_path / "shop.duckdb")
    with Warehouse(config.warehouse.path) as wh:
        # the flash sale is over by the evaluated hour
        load(wh, data, H - 13 * HOUR)
        found = drops(wh, config, H)
    # the shop-level test sees the plain-day drop itself; no second scope says it again
    assert () in found and OFF not in found


# the gap hour: 19:00-20:00 local, the hour before the evaluated one
G = H - HOUR


def test_an_export_gap_stays_out_of_the_off_promotion_windows(tmp_path: Path) -> None:
    data = Shop()
    baseline(data, today=(3,))
    # the flash sale runs from 18:00; in the evaluated hour B and C are 8% down
    data.hour(H - 2 * HOUR, {"A": (3000, 150), "B": (2000, 60), "C": (2000, 60)})
    data.hour(G, {"A": (3000, 150), "B": (2000, 60), "C": (2000, 60)})
    data.hour(H, {"A": (3000, 150), "B": (2000, 55), "C": (2000, 55)})
    # the orders export of the gap hour failed after 30% of it had landed
    paid = [o for o in data.orders if G <= o["paid_at"] < G + HOUR]
    lost = {o["order_id"] for i, o in enumerate(paid) if i % 10 >= 3}
    data.orders = [o for o in data.orders if o["order_id"] not in lost]
    config = settings(tmp_path / "shop.duckdb")
    with Warehouse(config.warehouse.path) as wh:
        load(wh, data, H - 2 * HOUR)
        wh.execute(
            "insert into ops.export_failures values ('r1', 'orders', ?, ?, 'HTTP 503 x6', ?)",
            [G + HOUR - timedelta(hours=48), G + HOUR, G + HOUR],
        )
        # neither the gap hour nor the windows holding it alert, in any scope
        assert drops(wh, config, G) == {}
        assert drops(wh, config, H) == {}
        # a backfill reloads the hour and finds its 70% fewer buyers real: the 2-hour
        # window of the SKUs outside the sale says so
        wh.execute(
            "insert into ops.backfill_chunks values ('b1', ?, ?, 'off', 'loaded', ?, null,"
            " null, 1.0, ?)",
            [G - 4 * HOUR, G + HOUR, orjson.dumps({"orders": 1}).decode(), END],
        )
        assert OFF in drops(wh, config, H)


def test_promoted_skus() -> None:
    running = pl.DataFrame({"promo_id": ["F1", "D1"]})
    items = pl.DataFrame({"promo_id": ["F1", "D1", "D1", "X"], "sku_id": ["A", "B", "A", "C"]})
    assert promoted_skus(running, items) == ["A", "B"]
    # nothing runs, or a running promotion lists no SKUs (store-wide): no such scope
    assert promoted_skus(running.clear(), items) is None
    assert promoted_skus(running, items.filter(pl.col("promo_id") != "D1")) is None


def test_the_off_promotion_reads_leave_the_evaluated_promotions_out_of_the_state(
    tmp_path: Path,
) -> None:
    data = Shop()
    baseline(data)
    data.hour(H, PLAIN)
    # one buyer of B and C, one of A and B: each is one buyer of the SKUs outside F1
    data.basket(H, "UX", ["B", "C"])
    data.basket(H, "UY", ["A", "B"])
    config = settings(tmp_path / "shop.duckdb")
    with Warehouse(config.warehouse.path) as wh:
        load(wh, data, H - HOUR)
        rows = wh.frame(
            read_sql("reads/rules_off_promotion_history"),
            {
                "start": H - 2 * HOUR,
                "end": END,
                "as_of": END,
                "skus": ["A"],
                "promo_ids": ["F1"],
            },
        ).with_columns(pl.col("hour").cast(TS))
        other = wh.frame(
            read_sql("reads/rules_off_promotion_history"),
            {"start": H - 2 * HOUR, "end": END, "as_of": END, "skus": [], "promo_ids": []},
        )
    # B and C alone, distinct buyers (and the gmv of their lines of B and C); F1 is the
    # scope's own promotion: no state
    assert rows.sort("hour").select("visitors", "buyers", "gmv", "promo_state").rows() == [
        (4000, 120, 12000.0, ""),
        (4000, 120, 12000.0, ""),
        (4000, 122, 12300.0, ""),
    ]
    # another scope's view of the same hours: every SKU, and F1 running from 19:00
    assert other.sort("hour").select("visitors", "buyers", "promo_state").rows() == [
        (5000, 150, ""),
        (5000, 150, "flash_sale"),
        (5000, 152, "flash_sale"),
    ]
    assert rows.get_column("hour").sort().to_list() == [H - 2 * HOUR, H - HOUR, H]
