"""The run report's pieces on a real warehouse: KPI baseline (same local hour yesterday and the
7-day mean, rates from summed bases) and the alert notices a run sent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from flows.report import alerts_sent, artifact_key, kpi_baseline
from flows.warehouse import Warehouse

NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    with Warehouse(tmp_path / "shop.duckdb") as warehouse:
        yield warehouse


def add_hour(wh: Warehouse, hour: datetime, visitors: int, buyers: int, gmv: float) -> None:
    wh.execute(
        "insert into mart.kpi_hourly values"
        " (?, ?, 0, 0, 0, 0, 0, ?, ?, ?, ?, ?, ?, 0, 0, null, 0, false, true)",
        [hour, visitors, buyers, buyers, buyers, gmv, buyers / visitors, gmv / buyers],
    )


def test_baseline_is_the_same_local_hour_across_a_dst_change(wh: Warehouse) -> None:
    # 2026-11-01 is 25 hours long in New York: 10:00 two days back is 49 hours back
    local = datetime(2026, 11, 2, 10, tzinfo=NEW_YORK)
    for days in range(1, 8):
        earlier = (local - timedelta(days=days)).astimezone(UTC)  # wall-clock arithmetic
        add_hour(wh, earlier, visitors=100 * days, buyers=days * days, gmv=50.0 * days)
    hour = local.astimezone(UTC)
    add_hour(wh, hour - timedelta(hours=48), visitors=9999, buyers=1, gmv=1.0)  # 11:00 EDT
    base = kpi_baseline(wh, NEW_YORK, hour)
    assert base["visitors"]["yesterday"] == 100
    assert base["visitors"]["mean_7d"] == pytest.approx(sum(100 * d for d in range(1, 8)) / 7)
    assert base["visitors"]["days"] == 7
    # ratio of sums (140 buyers / 2,800 visitors), not the mean of the hourly rates (0.04)
    assert base["conversion_rate"]["mean_7d"] == pytest.approx(140 / 2800)
    assert base["aov"]["mean_7d"] == pytest.approx(1400 / 140)
    assert base["buyers"]["yesterday"] == 1
    assert "in_promo" not in base and "hour" not in base


def test_no_history_gives_an_empty_baseline(wh: Warehouse) -> None:
    assert kpi_baseline(wh, NEW_YORK, datetime(2026, 11, 2, tzinfo=UTC)) == {}


def test_alerts_sent_lists_delivered_notices_of_the_hour_only(wh: Warehouse) -> None:
    hour = datetime(2026, 11, 11, 2, tzinfo=UTC)
    rows = [
        ("fp1", "conversion_drop", "firing", "critical", hour, "firing", "deliver", 120.0),
        ("fp2", "low_stock_promo", "firing", "warning", hour, None, "deliver", 80.0),
        ("fp3", "cancel_spike", "firing", "warning", hour, "firing", "record", 10.0),
        ("fp4", "data_gap", "resolved", "warning", hour - timedelta(hours=1), "resolved",
         "deliver", 0.0),
    ]  # fmt: skip
    for fp, name, status, severity, at, notify, mode, impact in rows:
        wh.execute(
            "insert into ops.alerts values (?, ?, ?, ?, ?, ?, ?, ?, null, false, ?, ?, ?, ?)",
            [
                fp,
                name,
                status,
                severity,
                json.dumps({"alertname": name, "shop": "s", "source": "search"}),
                json.dumps({"summary": f"{name} summary"}),
                at,
                at,
                impact,
                notify,
                mode,
                at,
            ],
        )
    sent = alerts_sent(wh, hour)
    assert [a["alertname"] for a in sent] == ["conversion_drop"]
    assert sent[0]["scope"] == {"source": "search"}
    assert sent[0]["summary"] == "conversion_drop summary"


def test_artifact_keys_are_what_prefect_accepts() -> None:
    assert artifact_key("Demo_Shop.CN", "backfill-progress") == "demo-shop-cn-backfill-progress"
    assert artifact_key("店铺-1", "hourly") == "1-hourly"
