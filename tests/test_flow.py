"""The hourly_etl Prefect flow and the CLI around it, under the session's Prefect harness."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from flows.cli import app
from flows.errors import EXIT_NOTHING_LOADED
from flows.etl import hourly_etl
from flows.warehouse import Warehouse
from tests.backend import TOKEN, Backend, serve
from tests.factories import order, promotion, traffic

pytestmark = pytest.mark.usefixtures("prefect_harness")
LATER = "2026-11-11T11:10:00+08:00"


@pytest.fixture
def backend() -> Iterator[Backend]:
    records = {
        "orders": [
            order("T1"),
            order("T2", buyer_id="U2", paid_at=LATER, updated_at=LATER),
        ],
        "traffic": [traffic(), traffic("2026-11-11T11:00:00+08:00", visitors=0, bounces=0)],
        "promotions": [promotion()],
    }
    with serve(Backend(records=records)) as b:
        yield b


@pytest.fixture
def config(backend: Backend, tmp_path: Path) -> Path:
    path = tmp_path / "shoppulse.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "shop": {"name": "flow-shop", "timezone": "Asia/Shanghai"},
                "source": {"base_url": backend.base_url, "token": "${FLOW_TOKEN}"},
                "warehouse": {"path": "wh.duckdb"},
            }
        )
    )
    return path


def test_hourly_flow_loads_and_refreshes_the_hour(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOW_TOKEN", TOKEN)
    summary = hourly_etl(config=str(config), hour="2026-11-11T10:00")
    assert summary["hour"] == "2026-11-11T10:00:00+08:00"
    assert summary["loaded"]["orders"] == 1  # T2 is paid at 11:10, after the clock
    assert summary["kpis"]["buyers"] == 1 and summary["kpis"]["visitors"] == 400
    with Warehouse(config.parent / "wh.duckdb") as wh:
        assert wh.rows("select status from ops.runs") == [("ok",)]


def test_cli_run_then_kpis_as_csv_and_json(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOW_TOKEN", TOKEN)
    runner = CliRunner()
    result = runner.invoke(app, ["run", "--config", str(config), "--hour", "2026-11-11T11:00"])
    assert result.exit_code == 0, result.output
    out = runner.invoke(app, ["kpis", "--config", str(config), "--hours", "2", "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [r["hour"] for r in rows] == ["2026-11-11 10:00", "2026-11-11 11:00"]
    assert rows[1]["conversion_rate"] == ""  # zero visitors: null, not inf
    assert rows[1]["buyers"] == "1"
    js = runner.invoke(app, ["kpis", "--config", str(config), "--hours", "1", "--format", "json"])
    assert json.loads(js.stdout)[0]["gmv"] == 179.8
    table = runner.invoke(app, ["kpis", "--config", str(config), "--hours", "2"])
    assert "2026-11-11 10:00" in table.stdout and "conv" in table.stdout


def test_cli_run_with_a_bad_token_fails_with_the_reason(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOW_TOKEN", "not-the-token")
    result = CliRunner().invoke(app, ["run", "--config", str(config), "--hour", "2026-11-11T10:00"])
    assert result.exit_code != 0
    assert "HTTP 401" in str(result.exception) and "not-the-token" not in str(result.exception)


def test_cli_run_takes_a_fleet_and_names_the_shop_that_failed(
    backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOW_TOKEN", TOKEN)
    for name, token in (("shop-a", "${FLOW_TOKEN}"), ("shop-b", "wrong-token")):
        (tmp_path / f"{name}.yaml").write_text(
            yaml.safe_dump(
                {
                    "shop": {"name": name, "timezone": "Asia/Shanghai"},
                    "source": {"base_url": backend.base_url, "token": token},
                    "warehouse": {"path": f"{name}.duckdb"},
                }
            )
        )
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text("shops: [shop-a.yaml, shop-b.yaml]\n")
    result = CliRunner().invoke(app, ["run", "-c", str(fleet), "--hour", "2026-11-11T10:00"])
    # shop-b's bad token fails shop-b alone, named, without its token; its summary is kept
    assert result.exit_code != 0
    message = str(result.exception)
    assert message.startswith("shop-b: ") and "HTTP 401" in message
    assert "wrong-token" not in message
    summaries = json.loads(result.stdout)
    assert [(s["shop"], s["status"]) for s in summaries] == [("shop-a", "ok"), ("shop-b", "failed")]
    assert getattr(result.exception, "exit_code", None) == EXIT_NOTHING_LOADED
    with Warehouse(tmp_path / "shop-a.duckdb") as wh:
        assert wh.rows("select status from ops.runs") == [("ok",)]
