"""Backfill as plain functions (no Prefect): chunk plans, equality with the hourly pipeline,
idempotence, failed chunks and --resume, alert replay without look-ahead, the busy warehouse."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from flows.chunks import Chunk, StagedChunk, extract_chunk, plan_chunks
from flows.cli import app
from flows.cli.backfill import chunk_rows
from flows.errors import BackfillError, WarehouseBusyError
from flows.pipeline import run_hour
from flows.rebuild import BackfillRequest, make_request, plain_backfill
from flows.settings import Settings, parse_settings
from flows.shops import Shop, load_shops, run_each
from flows.warehouse import Warehouse, writer_lock
from flows.warehouse.writer import load_chunk
from simulator import ShopSpec, Simulator
from simulator.server import SimulatorServer
from sources import make_source
from tests.backend import TOKEN, Backend, serve
from tests.factories import order, traffic

SPEC = ShopSpec(skus=12, visitors_per_day=4000, days=2)
SIM_TOKEN = "backfill-token"
# tables a backfill and the hourly pipeline must leave identical (stock_cover: see below)
COMPARED = {
    "core.orders": "order_id, sku_id",
    "core.traffic": "hour, source, sku_id",
    "core.inventory": "snapshot_at, sku_id, warehouse",
    "core.products": "sku_id",
    "core.promotions": "promo_id",
    "core.promotion_items": "promo_id, sku_id",
    "core.keywords": "hour, keyword",
    "mart.kpi_hourly": "hour",
    "mart.kpi_hourly_by_source": "hour, source",
    "mart.sku_hourly": "hour, sku_id",
    "mart.kpi_daily": "day",
    "mart.keyword_daily": "day, keyword",
    "ops.quarantine": "dataset, record_hash",
}


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def settings_for(base_url: str, path: Path, token: str = SIM_TOKEN, **source: Any) -> Settings:
    return parse_settings(
        {
            "shop": {"name": "bf-shop", "timezone": "Asia/Shanghai"},
            "source": {"base_url": base_url, "token": token, "page_size": 5000, **source},
            "warehouse": {"path": str(path), "lock_timeout_seconds": 0.3},
        }
    )


def snapshot(path: Path, tables: dict[str, str] = COMPARED) -> dict[str, list[tuple[Any, ...]]]:
    with Warehouse(path, read_only=True) as wh:
        return {
            table: wh.rows(
                f"select * exclude (quarantined_at, batch_id, seq) from {table} order by {key}"
                if table == "ops.quarantine"
                else f"select * from {table} order by {key}"
            )
            for table, key in tables.items()
        }


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    with SimulatorServer(Simulator("normal", 0, SPEC), token=SIM_TOKEN) as server:
        yield server.base_url


# -- planning --------------------------------------------------------------------------------


def test_day_chunks_follow_local_midnights_across_a_dst_change() -> None:
    tz = ZoneInfo("America/New_York")  # 2026-11-01 has 25 hours there
    start = datetime(2026, 10, 31, tzinfo=tz).astimezone(UTC)
    end = datetime(2026, 11, 3, tzinfo=tz).astimezone(UTC)
    chunks = plan_chunks(start, end, tz, 24)
    assert [c.hours for c in chunks] == [24, 25, 24]
    assert [c.start.astimezone(tz).hour for c in chunks] == [0, 0, 0]
    assert [c.first for c in chunks] == [True, False, False]
    six = plan_chunks(start, end, tz, 6)
    assert len(six) == 13 and sum(c.hours for c in six) == 73 and six[-1].hours == 1
    with pytest.raises(BackfillError, match="empty"):
        plan_chunks(end, end, tz, 24)


def test_a_range_starting_mid_day_ends_its_first_chunk_at_local_midnight() -> None:
    tz = ZoneInfo("Asia/Kolkata")  # +05:30
    start = datetime(2026, 11, 10, 15, tzinfo=tz).astimezone(UTC)
    chunks = plan_chunks(start, start + timedelta(hours=33), tz, 24)
    assert [c.hours for c in chunks] == [9, 24]
    assert chunks[1].start.astimezone(tz) == datetime(2026, 11, 11, tzinfo=tz)


def test_request_reads_shop_time_rounds_to_hours_and_stops_at_the_last_whole_hour() -> None:
    settings = settings_for("http://127.0.0.1:9", Path("unused.duckdb"))
    now = t("2026-11-11T10:30:00+08:00")
    request = make_request(settings, "2026-11-10T08:20", "2026-11-12", now=now)
    assert request.start == t("2026-11-10T08:00:00+08:00")
    assert request.end == t("2026-11-11T10:00:00+08:00")
    ceil = make_request(settings, "2026-11-10T00:00Z", "2026-11-10T05:10Z", now=now)
    assert ceil.start == t("2026-11-10T00:00Z") and ceil.end == t("2026-11-10T06:00Z")
    with pytest.raises(BackfillError, match="nothing to backfill"):
        make_request(settings, "2026-11-11T10:00", "2026-11-12", now=now)
    with pytest.raises(BackfillError, match="alerts must be one of off, record, deliver"):
        make_request(settings, "2026-11-10", "2026-11-11", alerts="page", now=now)


# -- the same warehouse as the hourly pipeline, and idempotent --------------------------------


def test_backfill_equals_the_hourly_pipeline_and_a_rerun_changes_nothing(
    sim_url: str, tmp_path: Path
) -> None:
    start = SPEC.start.astimezone(UTC) + timedelta(hours=22)  # 22:00 to 03:00, shop time
    end = start + timedelta(hours=5)
    # hour by hour, as the schedule would have run it (no lookback, so both read [start, end))
    hourly = settings_for(sim_url, tmp_path / "hourly.duckdb", lookback_hours=0)
    with Warehouse(hourly.warehouse.path) as wh, closing(make_source(hourly.source)) as source:
        until = start
        while until <= end:
            run_hour(wh, hourly, source, until)
            until += timedelta(hours=1)
    settings = settings_for(sim_url, tmp_path / "backfill.duckdb")
    request = BackfillRequest(start, end, chunk_hours=2)  # 22-00, 00-02, 02-03
    summary = plain_backfill(settings, request, workers=2)
    assert summary["chunks_loaded"] == 3 and summary["failed"] == []
    assert summary["loaded"]["orders"] > 30

    expected = snapshot(hourly.warehouse.path)
    assert sum(len(rows) for rows in expected.values()) > 300
    assert snapshot(settings.warehouse.path) == expected
    cover = {"mart.stock_cover": "as_of, sku_id"}
    with Warehouse(settings.warehouse.path, read_only=True) as wh:
        (last,) = wh.rows("select max(as_of) from mart.stock_cover")[0]
    assert last == end
    where = f"as_of = '{end.isoformat()}'"
    for path in (hourly.warehouse.path, settings.warehouse.path):
        with Warehouse(path, read_only=True) as wh:
            cover[str(path)] = str(
                wh.rows(f"select * from mart.stock_cover where {where} order by sku_id")
            )
    assert cover[str(hourly.warehouse.path)] == cover[str(settings.warehouse.path)]

    # with alert replay the hourly marts are refreshed hour by hour from that hour's rows
    # alone, the daily ones once at the end: the same tables
    replayed = settings_for(sim_url, tmp_path / "replayed.duckdb")
    replay = plain_backfill(replayed, replace(request, alerts="record"), workers=1)
    assert replay["chunks_loaded"] == 3 and replay["hours_evaluated"] == 5
    assert snapshot(replayed.warehouse.path) == expected

    raw_before = _raw_count(settings.warehouse.path)
    again = plain_backfill(settings, request, workers=1)
    assert again["loaded"] == summary["loaded"]
    assert snapshot(settings.warehouse.path) == expected
    assert _raw_count(settings.warehouse.path) == raw_before  # a rerun replaces its batches
    with Warehouse(settings.warehouse.path, read_only=True) as wh:
        marks = dict(wh.rows("select dataset, watermark from ops.watermarks"))
        runs = wh.rows("select kind, status from ops.runs order by started_at")
    assert set(marks.values()) == {end}
    assert runs == [("backfill", "ok"), ("backfill", "ok")]


def _raw_count(path: Path) -> int:
    with Warehouse(path, read_only=True) as wh:
        return int(wh.rows("select count(*) from raw.records")[0][0])


# -- a failed chunk: reported, the watermark stops before it, --resume loads it alone ----------


@pytest.fixture
def flaky() -> Iterator[Backend]:
    records = {
        "orders": [
            order(
                f"T{day}",
                created_at=f"2026-11-0{day}T10:03:12+08:00",
                paid_at=f"2026-11-0{day}T10:04:40+08:00",
                updated_at=f"2026-11-0{day}T10:04:40+08:00",
            )
            for day in (1, 2, 3)
        ],
        "traffic": [traffic(f"2026-11-0{day}T10:00:00+08:00") for day in (1, 2, 3)],
    }
    # the first orders request (chunk 1, with one worker) fails; no retry
    faults = [("orders", 500, {}, '{"error": "backend down"}')]
    with serve(Backend(records=records, faults=faults)) as backend:
        yield backend


def test_failed_chunk_is_reported_and_resume_loads_only_it(flaky: Backend, tmp_path: Path) -> None:
    settings = settings_for(flaky.base_url, tmp_path / "w.duckdb", token=TOKEN, max_attempts=1)
    request = make_request(settings, "2026-11-01", "2026-11-04", now=t("2026-11-20T00:00:00+08:00"))
    first = plain_backfill(settings, request, workers=1)
    assert first["chunks_loaded"] == 2
    (failed,) = first["failed"]
    assert failed["dataset"] == "orders" and "HTTP 500" in failed["error"]
    assert failed["start"] == "2026-11-01T00:00:00+08:00"
    with Warehouse(settings.warehouse.path, read_only=True) as wh:
        assert wh.rows("select order_id from core.orders order by 1") == [("T2",), ("T3",)]
        assert wh.rows("select * from ops.watermarks") == []  # not past the hole
        assert wh.rows("select status from ops.runs") == [("failed",)]
    shop = Shop(tmp_path / "shop.yaml", settings)
    assert [r["last"] for r in chunk_rows(shop, request)] == ["failed", "loaded", "loaded"]

    flaky.requests.clear()
    second = plain_backfill(settings, replace(request, resume=True), workers=1)
    assert (second["chunks_skipped"], second["chunks_loaded"], second["failed"]) == (2, 1, [])
    asked = {(r["dataset"], r.get("since")) for r in flaky.requests if r["dataset"] == "orders"}
    assert asked == {("orders", "2026-10-31T16:00:00+00:00")}  # only the failed day
    with Warehouse(settings.warehouse.path, read_only=True) as wh:
        assert [r[0] for r in wh.rows("select order_id from core.orders order by 1")] == [
            "T1",
            "T2",
            "T3",
        ]
        assert {m for (m,) in wh.rows("select watermark from ops.watermarks")} == {request.end}
        assert wh.rows("select count(*) from mart.kpi_hourly where buyers > 0") == [(3,)]


# -- alerts: hour by hour, each hour seeing only what was known at its end ----------------------


def four_staged_hours(sim_url: str, tmp_path: Path) -> tuple[Settings, datetime, StagedChunk]:
    """A first chunk of four simulated hours, staged for `load_chunk`, and its first hour."""
    settings = settings_for(sim_url, tmp_path / "w.duckdb")
    start = SPEC.start.astimezone(UTC) + timedelta(hours=20)
    chunk = Chunk(start, start + timedelta(hours=4), first=True)
    staged = extract_chunk(settings, chunk, tmp_path / "staging")
    assert staged.error is None
    return settings, start, staged


def test_alert_replay_evaluates_each_hour_after_loading_only_that_hour(
    sim_url: str, tmp_path: Path
) -> None:
    settings, start, staged = four_staged_hours(sim_url, tmp_path)
    seen: list[tuple[datetime, Any, Any, str]] = []

    def hook(wh: Warehouse, s: Settings, hour: datetime, mode: str) -> None:
        latest_order = wh.rows("select max(updated_at) from core.orders")[0][0]
        latest_kpi = wh.rows("select max(hour) from mart.kpi_hourly")[0][0]
        seen.append((hour, latest_order, latest_kpi, mode))

    with Warehouse(settings.warehouse.path) as wh:
        outcome = load_chunk(wh, settings, staged, "bf1", "record", hook)
    assert outcome.hours_evaluated == 4 and outcome.status == "loaded"
    assert [s[0] for s in seen] == [start + timedelta(hours=i) for i in range(4)]
    for hour, latest_order, latest_kpi, mode in seen:
        assert latest_order < hour + timedelta(hours=1)  # nothing from after the hour
        assert latest_kpi == hour and mode == "record"


def test_replayed_rules_run_beside_the_next_hours_merge_and_never_see_it(
    sim_url: str, tmp_path: Path
) -> None:
    settings, start, staged = four_staged_hours(sim_url, tmp_path)
    seen: list[tuple[datetime, Any, str]] = []

    def hook(wh: Warehouse, s: Settings, hour: datetime, mode: str) -> None:
        time.sleep(0.3)  # the writer merges the next hour meanwhile: it must not commit it yet
        latest = wh.rows("select max(updated_at) from core.orders")[0][0]
        seen.append((hour, latest, threading.current_thread().name))
        if hour == start + timedelta(hours=2):
            raise RuntimeError("the rules broke")

    with Warehouse(settings.warehouse.path) as wh, pytest.raises(RuntimeError, match="broke"):
        load_chunk(wh, settings, staged, "bf1", "record", hook)
    assert [s[0] for s in seen] == [start + timedelta(hours=i) for i in range(3)]
    for hour, latest, thread in seen:
        assert latest < hour + timedelta(hours=1)  # nothing from after the hour
        assert thread != threading.main_thread().name
    # the hour after the one whose rules failed was merged, then rolled back
    with Warehouse(settings.warehouse.path, read_only=True) as wh:
        latest = wh.rows("select max(updated_at) from core.orders")[0][0]
    assert start + timedelta(hours=2) <= latest < start + timedelta(hours=3)


def test_alerts_record_runs_the_rules_engine_and_sends_nothing(
    sim_url: str, tmp_path: Path
) -> None:
    settings = settings_for(sim_url, tmp_path / "w.duckdb")
    start = SPEC.start.astimezone(UTC)
    summary = plain_backfill(
        settings, BackfillRequest(start, start + timedelta(hours=2), alerts="record"), workers=1
    )
    assert summary["hours_evaluated"] == 2 and summary["failed"] == []
    with Warehouse(settings.warehouse.path, read_only=True) as wh:
        assert wh.rows("select count(*) from ops.deliveries") == [(0,)]
        assert wh.rows("select count(*) from ops.alerts where mode <> 'record'") == [(0,)]


# -- one writer --------------------------------------------------------------------------------


def test_a_busy_warehouse_fails_clearly_naming_the_other_run(tmp_path: Path) -> None:
    settings = settings_for("http://127.0.0.1:9", tmp_path / "w.duckdb")
    request = BackfillRequest(t("2026-11-01T00:00Z"), t("2026-11-01T01:00Z"))
    holder = "hourly run of bf-shop for 2026-11-01T09:00:00+08:00"
    with (
        writer_lock(settings.warehouse.path, timeout=1, holder=holder),
        pytest.raises(WarehouseBusyError) as caught,
    ):
        plain_backfill(settings, request)
    message = str(caught.value)
    assert holder in message and "is busy" in message and "waited 0s" in message


# -- many shops ----------------------------------------------------------------------------------


def _config(path: Path, name: str, warehouse: str) -> Path:
    path.write_text(
        f"shop: {{name: {name}}}\n"
        "source: {base_url: 'http://127.0.0.1:9', token: t}\n"
        f"warehouse: {{path: {warehouse}}}\n",
        encoding="utf-8",
    )
    return path


def test_a_fleet_file_lists_shops_each_with_its_own_warehouse(tmp_path: Path) -> None:
    (tmp_path / "shops").mkdir()
    a = _config(tmp_path / "shops" / "a.yaml", "shop-a", "a.duckdb")
    b = _config(tmp_path / "b.yaml", "shop-b", "b.duckdb")
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text("shops: [shops/a.yaml]\n", encoding="utf-8")
    shops = load_shops([fleet, b])
    assert [s.name for s in shops] == ["shop-a", "shop-b"]
    assert [s.config for s in shops] == [a.resolve(), b.resolve()]
    assert shops[0].settings.warehouse.path == tmp_path / "shops" / "a.duckdb"

    dup = _config(tmp_path / "dup.yaml", "shop-a", "other.duckdb")
    with pytest.raises(Exception, match="shop name 'shop-a' is used by both"):
        load_shops([fleet, dup])
    same = _config(tmp_path / "shops" / "c.yaml", "shop-c", "a.duckdb")
    with pytest.raises(Exception, match="share warehouse"):
        load_shops([a, same])
    fleet.write_text("shops: [shops/a.yaml]\nshop: {name: x}\n", encoding="utf-8")
    with pytest.raises(Exception, match="holds only `shops:`"):
        load_shops([fleet])


def test_shops_run_side_by_side_and_one_failure_spares_the_others(tmp_path: Path) -> None:
    shops = load_shops([_config(tmp_path / f"{n}.yaml", f"shop-{n}", f"{n}.duckdb") for n in "abc"])
    # every shop waits for all three to have started: run one after another, the barrier
    # would break after its timeout and each shop would return BrokenBarrierError
    barrier = threading.Barrier(len(shops), timeout=30)

    def work(shop: Shop) -> str:
        barrier.wait()
        if shop.name == "shop-b":
            raise RuntimeError("shop-b failed")
        return shop.name

    results = run_each(shops, work)
    assert [(s.name, r if isinstance(r, str) else repr(r)) for s, r in results] == [
        ("shop-a", "shop-a"),
        ("shop-b", "RuntimeError('shop-b failed')"),
        ("shop-c", "shop-c"),
    ]


def test_every_shop_runs_with_the_callers_prefect_settings(tmp_path: Path) -> None:
    # the command points Prefect at its own temporary server in its own thread (a context
    # variable): a shop's thread that lacked it would start another server of Prefect's
    from prefect.settings import PREFECT_API_URL, temporary_settings

    shops = load_shops([_config(tmp_path / f"{n}.yaml", f"shop-{n}", f"{n}.duckdb") for n in "ab"])
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        results = run_each(shops, lambda shop: PREFECT_API_URL.value())
    assert [r for _, r in results] == ["http://127.0.0.1:9/api"] * 2


def test_cli_dry_run_lists_the_chunks_of_every_shop(tmp_path: Path) -> None:
    a = _config(tmp_path / "a.yaml", "shop-a", "a.duckdb")
    b = _config(tmp_path / "b.yaml", "shop-b", "b.duckdb")
    result = CliRunner().invoke(
        app,
        ["backfill", "-c", str(a), "-c", str(b), "--start", "2026-11-01T12:00",
         "--end", "2026-11-03", "--dry-run"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    text = result.output
    assert text.count("shop-a") == 2 and text.count("shop-b") == 2
    assert "2026-11-01T12:00+0800..2026-11-02T00:00+0800" in text and "new" in text
    assert not (tmp_path / "a.duckdb").exists()  # a dry run opens nothing


def test_cli_rejects_a_bad_range_before_starting_anything(tmp_path: Path) -> None:
    a = _config(tmp_path / "a.yaml", "shop-a", "a.duckdb")
    result = CliRunner().invoke(
        app, ["backfill", "-c", str(a), "--start", "2026-11-03", "--end", "2026-11-01"]
    )
    assert result.exit_code != 0
    assert isinstance(result.exception, BackfillError)
    assert "nothing to backfill" in str(result.exception)
