"""Orchestration under the session's Prefect server: backfill flow runs (threads and a real Dask
cluster), two shops side by side, artifacts, secrets from Secret blocks, the warehouse
concurrency limit, and `shoppulse serve` with a clean Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect import flow
from prefect.blocks.system import Secret
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterId,
)
from prefect.settings import PREFECT_API_URL
from typer.testing import CliRunner

from flows.backfill import backfill
from flows.cli import app
from flows.errors import WarehouseBusyError
from flows.etl import hourly_etl
from flows.warehouse import Warehouse
from flows.warehouse.lock import limit_name, warehouse_writer
from simulator import ShopSpec, Simulator
from simulator.server import SimulatorServer

pytestmark = pytest.mark.usefixtures("prefect_harness")

ROOT = Path(__file__).resolve().parent.parent
SPEC = ShopSpec(skus=10, visitors_per_day=3000, days=2)
TOKEN = "orchestration-token"
START = SPEC.start.isoformat()
END = SPEC.end.isoformat()
TABLES = {
    "core.orders": "order_id, sku_id",
    "core.traffic": "hour, source, sku_id",
    "core.inventory": "snapshot_at, sku_id, warehouse",
    "core.promotion_items": "promo_id, sku_id",
    "mart.kpi_hourly": "hour",
    "mart.sku_hourly": "hour, sku_id",
    "mart.kpi_daily": "day",
    "mart.stock_cover": "as_of, sku_id",
    "mart.rfm_segments": "as_of, buyer_id",
}


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    with SimulatorServer(Simulator("normal", 0, SPEC), token=TOKEN) as server:
        yield server.base_url


@pytest.fixture(scope="module")
def shop_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("shops")


def write_config(folder: Path, name: str, url: str, token: str = "${ORCH_SHOP_TOKEN}") -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "shop": {"name": name, "timezone": SPEC.timezone},
                "source": {"base_url": url, "token": token, "page_size": 5000},
                # a minute, not the default ten: a lock never granted still fails the test.
                # With 5 s, shop-b of the side-by-side backfill once timed out waiting for its
                # own, unheld limit under three test workers (cause not found)
                "warehouse": {"path": f"{name}.duckdb", "lock_timeout_seconds": 60},
            }
        ),
        encoding="utf-8",
    )
    return path


def snapshot(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    with Warehouse(path, read_only=True) as wh:
        return {t: wh.rows(f"select * from {t} order by {k}") for t, k in TABLES.items()}


def flow_runs(name: str) -> list[Any]:
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[name])))


def task_runs(flow_run_id: Any) -> list[Any]:
    with get_client(sync_client=True) as client:
        return client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )


def artifact(key: str) -> Any:
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )
    assert found, f"no artifact {key}"
    return max(found, key=lambda a: a.created)


@pytest.fixture(scope="module")
def two_shops(sim_url: str, shop_dir: Path) -> list[Path]:
    """Two shops backfilled side by side by one `shoppulse backfill` on a fleet file; the
    token comes from the Prefect Secret block `orch-shop-token` (the variable is unset)."""
    os.environ.pop("ORCH_SHOP_TOKEN", None)
    Secret(value=TOKEN).save("orch-shop-token", overwrite=True)
    configs = [write_config(shop_dir, name, sim_url) for name in ("shop-a", "shop-b")]
    fleet = shop_dir / "fleet.yaml"
    fleet.write_text(yaml.safe_dump({"shops": [c.name for c in configs]}), encoding="utf-8")
    result = CliRunner().invoke(
        app, ["backfill", "-c", str(fleet), "--start", START, "--end", END, "--workers", "2"]
    )
    assert result.exit_code == 0, result.output
    summaries = json.loads(result.stdout)
    assert [s["shop"] for s in summaries] == ["shop-a", "shop-b"]
    assert all(s["chunks_loaded"] == 2 and not s["failed"] for s in summaries)
    return configs


def test_each_shop_is_its_own_flow_run_with_tasks_bounded_by_chunks(
    two_shops: list[Path],
) -> None:
    runs = [r for r in flow_runs("backfill") if r.parameters["config"] in map(str, two_shops)]
    assert sorted(r.parameters["config"] for r in runs) == sorted(map(str, two_shops))
    for run in runs:
        assert run.state.is_completed()
        names = sorted(t.name.split("-20")[0] for t in task_runs(run.id))
        # two day chunks: one extract and one load each, whatever the hours in them
        assert names == ["extract", "extract", "load", "load"]
    for config in two_shops:
        with Warehouse(config.with_suffix(".duckdb"), read_only=True) as wh:
            assert wh.rows("select count(*) from mart.kpi_hourly") == [(48,)]


def test_backfill_publishes_progress_and_a_summary(two_shops: list[Path]) -> None:
    assert artifact("shop-a-backfill-progress").data == 100.0
    summary = artifact("shop-a-backfill").data
    assert "chunks loaded: **2 of 2**" in summary and "| orders |" in summary


def test_a_backfill_on_a_dask_cluster_equals_the_thread_backfill(
    two_shops: list[Path], sim_url: str, shop_dir: Path
) -> None:
    from distributed import LocalCluster

    config = write_config(shop_dir, "shop-a-dask", sim_url)
    with LocalCluster(
        n_workers=1, processes=True, threads_per_worker=2, dashboard_address=None
    ) as cluster:
        state = backfill(
            start=START,
            end=END,
            config=str(config),
            dask_address=cluster.scheduler_address,
            return_state=True,
        )
    assert state.is_completed(), state.message
    result = snapshot(config.with_suffix(".duckdb"))
    assert sum(len(rows) for rows in result.values()) > 1000
    assert result == snapshot(two_shops[0].with_suffix(".duckdb"))
    (run,) = [r for r in flow_runs("backfill") if r.parameters["config"] == str(config)]
    extracts = [t for t in task_runs(run.id) if t.name.startswith("extract-")]
    assert len(extracts) == 2 and all(t.state.is_completed() for t in extracts)


def test_hourly_run_artifact_shows_kpis_against_yesterday(
    two_shops: list[Path], sim_url: str
) -> None:
    last_hour = (SPEC.end - timedelta(hours=1)).isoformat()
    summary = hourly_etl(config=str(two_shops[1]), hour=last_hour)
    hour = datetime.fromisoformat(last_hour).astimezone(UTC)
    with Warehouse(two_shops[1].with_suffix(".duckdb"), read_only=True) as wh:
        (visitors,) = wh.rows(
            "select visitors from mart.kpi_hourly where hour = ?", [hour - timedelta(days=1)]
        )[0]
    assert summary["baseline"]["visitors"]["yesterday"] == visitors
    text = artifact("shop-b-hourly").data
    assert "## KPIs against baseline" in text and "## Alerts sent" in text
    table = artifact("shop-b-hourly-kpis").data
    assert '"same_hour_yesterday"' in table and '"mean_7d"' in table


def test_a_failed_hourly_run_publishes_the_dataset_and_reason(sim_url: str, shop_dir: Path) -> None:
    config = write_config(shop_dir, "shop-bad-token", sim_url, token="wrong-token")
    state = hourly_etl(config=str(config), hour=START, return_state=True)
    assert state.is_failed()
    text = artifact("shop-bad-token-failure").data
    assert "dataset: `products`" in text and "token was not accepted" in text
    assert "wrong-token" not in text


# -- one writer per warehouse, under Prefect ---------------------------------------------------

HELD = threading.Event()
RELEASE = threading.Event()


@flow
def hold_warehouse(path: str) -> None:
    with warehouse_writer(Path(path), timeout=5, holder="the holding flow"):
        HELD.set()
        RELEASE.wait(30)


@flow
def write_warehouse(path: str, timeout: float) -> str:
    with warehouse_writer(Path(path), timeout=timeout, holder="the waiting flow"):
        return "wrote"


def test_a_second_writer_waits_on_the_warehouse_limit_then_names_the_holder(
    tmp_path: Path,
) -> None:
    path = tmp_path / "busy.duckdb"
    holder = threading.Thread(target=hold_warehouse, args=(str(path),))
    holder.start()
    try:
        assert HELD.wait(30)
        started = time.monotonic()
        state = write_warehouse(str(path), 1.0, return_state=True)
        waited = time.monotonic() - started
        assert state.is_failed()
        with pytest.raises(WarehouseBusyError) as caught:
            state.result()
        message = str(caught.value)
        assert "the holding flow" in message and limit_name(path) in message
        assert 0.9 <= waited < 15
    finally:
        RELEASE.set()
        holder.join(30)
    assert write_warehouse(str(path), 5.0) == "wrote"
    with get_client(sync_client=True) as client:
        assert client.read_global_concurrency_limit_by_name(limit_name(path)).limit == 1


# -- shoppulse serve -----------------------------------------------------------------------------


def test_serve_schedules_each_shop_and_stops_cleanly_on_ctrl_c(
    sim_url: str, shop_dir: Path, tmp_path: Path
) -> None:
    config = write_config(shop_dir, "shop-served", sim_url, token=TOKEN)
    env = {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PYTHONUNBUFFERED": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "flows", "serve", "-c", str(config)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = _wait_for(proc, "shoppulse: serving", timeout=60)
        assert "hourly-etl/shop-served" in line and "daily-rfm/shop-served" in line
        with get_client(sync_client=True) as client:
            hourly = client.read_deployment_by_name("hourly-etl/shop-served")
            daily = client.read_deployment_by_name("daily-rfm/shop-served")
        (schedule,) = hourly.schedules
        assert schedule.schedule.cron == "5 * * * *"
        assert schedule.schedule.timezone == SPEC.timezone
        assert hourly.parameters == {"config": str(config)}
        assert daily.schedules[0].schedule.timezone == SPEC.timezone
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "stopped serving" in err and "Traceback" not in err + out


def _wait_for(proc: subprocess.Popen[str], text: str, timeout: float) -> str:
    assert proc.stderr is not None
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        if text in line:
            return line
    raise AssertionError(f"{text!r} not seen; stderr so far:\n{''.join(seen)}")


# -- failures and empty hours still leave their artifacts --------------------------------------


def test_a_run_missing_its_secret_names_the_block_and_publishes_the_failure(
    sim_url: str, shop_dir: Path
) -> None:
    os.environ.pop("ORCH_MISSING_TOKEN", None)
    config = write_config(shop_dir, "shop-no-secret", sim_url, token="${ORCH_MISSING_TOKEN}")
    state = hourly_etl(config=str(config), hour=START, return_state=True)
    assert state.is_failed()
    text = artifact("shop-no-secret-failure").data
    assert "environment variable ORCH_MISSING_TOKEN is not set" in text
    assert "Prefect Secret block 'orch-missing-token'" in text


def test_an_hour_without_a_kpi_row_still_publishes_the_table_saying_why(
    sim_url: str, shop_dir: Path
) -> None:
    config = write_config(shop_dir, "shop-before-data", sim_url, token=TOKEN)
    before = (SPEC.start - timedelta(days=3)).isoformat()  # the simulated shop did not exist
    summary = hourly_etl(config=str(config), hour=before)
    assert summary["kpis"] == {}
    table = artifact("shop-before-data-hourly-kpis")
    assert json.loads(table.data) == []
    assert "no KPI row for hour" in table.description
    assert "no KPI row for hour" in artifact("shop-before-data-hourly").data
