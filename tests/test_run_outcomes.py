"""How a run ends when data is missing: what loaded is committed, alerts go out (data_gap
among them), and the run says so in its summary, its ops.runs row, Prefect and its exit code."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from flows.errors import EXIT_NOTHING_LOADED, EXIT_PARTIAL, RunIncompleteError
from flows.etl import hourly_etl
from flows.pipeline import RunResult, evaluate, finish_run, load_window, plan_windows, refresh
from flows.pipeline import start_run as open_run
from flows.rules_runner import evaluate_hour
from flows.settings import Settings, load_settings
from flows.warehouse import Warehouse
from simulator import ShopSpec, Simulator
from simulator.server import SimulatorServer
from sources import make_source
from tests.backend import RESET, STALL, TOKEN, Backend, serve
from tests.factories import order, promotion, traffic

HOUR = "2026-11-11T10:00"
SPEC = ShopSpec(skus=8, visitors_per_day=4000, days=5)
SIM_TOKEN = "outcome-token"


def write_config(folder: Path, url: str, token: str, **source: Any) -> Path:
    path = folder / "shoppulse.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "shop": {"name": "outcome-shop", "timezone": "Asia/Shanghai"},
                "source": {"base_url": url, "token": token, **source},
                "warehouse": {"path": "wh.duckdb"},
                "channels": [{"name": "log", "type": "file", "path": "alerts.jsonl"}],
            }
        ),
        encoding="utf-8",
    )
    return path


def run_plain(settings: Settings, hour: str) -> RunResult:
    """One hourly run with the plain functions the flow's tasks wrap (no Prefect)."""
    from flows.clock import hour_end

    until = hour_end(hour, settings.shop.tz)
    with Warehouse(settings.warehouse.path) as wh, closing(make_source(settings.source)) as src:
        run = open_run(wh, until, max_quarantine_ratio=settings.source.max_quarantine_ratio)
        for window in plan_windows(wh, settings, until):
            load_window(wh, src, run, window)
        refresh(wh, settings, run)
        evaluate(wh, settings, run)
        finish_run(wh, run)
    return run


def sent(folder: Path) -> list[dict[str, Any]]:
    path = folder / "alerts.jsonl"
    if not path.exists():
        return []
    alerts = []
    for line in path.read_text(encoding="utf-8").splitlines():
        alerts += json.loads(line)["message"]["alerts"]
    return alerts


@pytest.fixture
def backend() -> Iterator[Backend]:
    records = {
        "orders": [order("T1")],
        "traffic": [traffic()],
        "promotions": [promotion()],
    }
    with serve(Backend(records=records)) as b:
        yield b


@pytest.mark.usefixtures("prefect_harness")
def test_a_failed_export_commits_the_rest_sends_the_gap_then_fails_the_run(
    backend: Backend, tmp_path: Path
) -> None:
    backend.faults += [("orders", 503, {}, "{}")] * 2
    config = write_config(tmp_path, backend.base_url, TOKEN, max_attempts=2)
    state = hourly_etl(config=str(config), hour=HOUR, return_state=True)
    assert state.is_failed()
    with pytest.raises(RunIncompleteError) as caught:
        state.result()
    error = caught.value
    assert error.exit_code == EXIT_PARTIAL
    assert error.summary["status"] == "partial" and list(error.summary["failures"]) == ["orders"]
    assert "export failed (orders)" in str(error) and "HTTP 503" in str(error)
    with Warehouse(tmp_path / "wh.duckdb", read_only=True) as wh:
        # traffic loaded and committed; orders rolled back, its watermark unmoved
        assert wh.rows("select count(*) from core.traffic") == [(1,)]
        assert wh.rows("select count(*) from core.orders") == [(0,)]
        assert wh.watermark("orders") is None and wh.watermark("traffic") is not None
        assert wh.rows("select status from ops.runs") == [("partial",)]
    gaps = [a for a in sent(tmp_path) if a["labels"]["alertname"] == "data_gap"]
    assert gaps and gaps[0]["labels"]["severity"] == "critical"


def test_a_rerun_that_succeeds_leaves_no_stale_data_gap(backend: Backend, tmp_path: Path) -> None:
    wrong = load_settings(write_config(tmp_path, backend.base_url, "wrong-token"))
    first = run_plain(wrong, HOUR)
    assert first.status == "failed" and "orders" in first.gaps
    right = load_settings(write_config(tmp_path, backend.base_url, TOKEN))
    second = run_plain(right, HOUR)
    assert second.status == "ok" and second.gaps == []
    with Warehouse(right.warehouse.path, read_only=True) as wh:
        alerts, _ = evaluate_hour(wh, right, first.until - timedelta(hours=1))
        assert [a.alertname for a in alerts if a.alertname == "data_gap"] == []
    # a later failure of the same hour is a gap again: only superseded failures are ignored
    third = run_plain(wrong, HOUR)
    assert "orders" in third.gaps


def test_a_fatal_export_failure_still_loads_the_other_datasets(
    backend: Backend, tmp_path: Path
) -> None:
    backend.faults.append(("orders", 400, {}, json.dumps({"error": "bad window"})))
    settings = load_settings(write_config(tmp_path, backend.base_url, TOKEN))
    run = run_plain(settings, HOUR)
    assert list(run.failures) == ["orders"] and "bad window" in run.failures["orders"]
    assert run.loads["traffic"].loaded == 1 and run.status == "partial"


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    with SimulatorServer(Simulator("normal", 0, SPEC), token=SIM_TOKEN) as server:
        yield server.base_url


@pytest.mark.usefixtures("prefect_harness")
def test_an_empty_run_where_volume_is_expected_is_a_data_gap(sim_url: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, sim_url, SIM_TOKEN, lookback_hours=SPEC.hours)
    settings = load_settings(config)
    last = (SPEC.end - timedelta(hours=1)).isoformat()
    history = run_plain(settings, last)
    assert history.status == "ok" and history.loads["traffic"].loaded > 0
    # the next hour lies past the simulated data: every export answers, with nothing
    past = SPEC.end.isoformat()
    state = hourly_etl(config=str(config), hour=past, return_state=True)
    assert state.is_failed()
    with pytest.raises(RunIncompleteError) as caught:
        state.result()
    summary = caught.value.summary
    assert caught.value.exit_code == EXIT_PARTIAL and summary["failures"] == {}
    assert summary["status"] == "partial"
    assert "traffic" in summary["data_gap"]["datasets"]
    assert "no data where volume was expected" in str(caught.value)
    with Warehouse(settings.warehouse.path, read_only=True) as wh:
        assert wh.rows("select status from ops.runs order by started_at") == [
            ("ok",),
            ("partial",),
        ]


def test_every_export_failing_is_its_own_status(backend: Backend, tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, backend.base_url, "wrong-token"))
    run = run_plain(settings, HOUR)
    assert run.status == "failed" and not run.loads
    problem = run.problem()
    assert problem is not None and problem.startswith("every export failed")
    assert EXIT_NOTHING_LOADED != EXIT_PARTIAL


@pytest.mark.parametrize(("ratio", "status"), [(0.5, "partial"), (1.0, "ok")])
def test_too_many_quarantined_records_fail_the_run_loudly(
    tmp_path: Path, ratio: float, status: str
) -> None:
    bad = [order("B1", quantity=-1), order("B2", status="lost"), {"order_id": "B3"}]
    records = {"orders": [order("T1"), *bad], "traffic": [traffic()]}
    with serve(Backend(records=records)) as b:
        config = write_config(tmp_path, b.base_url, TOKEN, max_quarantine_ratio=ratio)
        run = run_plain(load_settings(config), HOUR)
    orders = run.loads["orders"]
    # every record received is loaded or quarantined with a reason
    assert (orders.loaded, orders.quarantined, orders.landed) == (1, 3, 4)
    assert run.status == status
    if status == "partial":
        assert "orders: 3 of 4 records quarantined (75%)" in (run.problem() or "")


def test_backend_faults_mid_run_are_retried_and_lose_or_double_nothing(tmp_path: Path) -> None:
    orders = [order(f"T{i}", buyer_id=f"U{i}") for i in range(4)]
    faults = [
        ("orders", 503, {}, "{}"),
        ("orders", RESET, {}, ""),
        ("orders", STALL, {}, "3"),
        ("orders", 429, {"Retry-After": "1"}, "{}"),
        ("orders", 502, {}, "{}"),
    ]
    with serve(Backend(records={"orders": orders, "traffic": [traffic()]}, faults=faults)) as b:
        config = write_config(tmp_path, b.base_url, TOKEN, page_size=1, timeout_seconds=1)
        run = run_plain(load_settings(config), HOUR)
        assert b.faults == []  # every fault was played
    assert run.status == "ok" and run.loads["orders"].loaded == 4
    with Warehouse(tmp_path / "wh.duckdb", read_only=True) as wh:
        assert wh.rows("select order_id from core.orders order by 1") == [
            (f"T{i}",) for i in range(4)
        ]


def test_after_a_backend_outage_the_next_run_catches_up(backend: Backend, tmp_path: Path) -> None:
    backend.faults += [("orders", 503, {}, "{}")] * 2
    settings = load_settings(write_config(tmp_path, backend.base_url, TOKEN, max_attempts=2))
    down = run_plain(settings, HOUR)
    assert list(down.failures) == ["orders"] and "orders" in down.gaps
    with Warehouse(settings.warehouse.path, read_only=True) as wh:
        assert wh.watermark("orders") is None  # the watermark did not move
    up = run_plain(settings, "2026-11-11T11:00")
    assert up.status == "ok" and up.loads["orders"].loaded == 1
    with Warehouse(settings.warehouse.path, read_only=True) as wh:
        # the order of the failed hour is in, and its KPI hour computed
        assert wh.rows("select order_id from core.orders") == [("T1",)]
        assert wh.rows(
            "select buyers from mart.kpi_hourly where hour = ?", [down.until - timedelta(hours=1)]
        ) == [(1,)]
