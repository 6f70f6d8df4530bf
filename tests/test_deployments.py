"""`shoppulse deploy`: each shop's deployments made from its config through Prefect's API, on
the session's Prefect server: names, schedules in the shop's own timezone, the config passed,
and clear errors for a missing work pool."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from typer.testing import CliRunner

import flows
from flows.cli import app
from flows.deployments import plan_deployments
from flows.errors import DeployError
from flows.shops import load_shops

pytestmark = pytest.mark.usefixtures("prefect_harness")


def write_config(folder: Path, name: str, timezone: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "shop": {"name": name, "timezone": timezone},
                "source": {"base_url": "http://127.0.0.1:9", "token": "${DEPLOY_TEST_TOKEN}"},
                "warehouse": {"path": f"{name}.duckdb"},
            }
        ),
        encoding="utf-8",
    )
    return path


@pytest.fixture
def fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DEPLOY_TEST_TOKEN", "t")
    configs = [
        write_config(tmp_path, "tmall-flagship", "Asia/Shanghai"),
        write_config(tmp_path, "shopify-eu", "Europe/Berlin"),
    ]
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(yaml.safe_dump({"shops": [c.name for c in configs]}), encoding="utf-8")
    return fleet


@pytest.fixture(scope="module")
def pool() -> Iterator[str]:
    name = "shoppulse-test"
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name=name, type="process"), overwrite=True)
    yield name


def test_each_shop_gets_five_deployments_on_its_own_clock(fleet: Path) -> None:
    plans = plan_deployments(load_shops([fleet]))
    assert [p.full_name for p in plans] == [
        "hourly-etl/tmall-flagship",
        "daily-rfm/tmall-flagship",
        "backfill/tmall-flagship",
        "daily-digest/tmall-flagship",
        "weekly-review/tmall-flagship",
        "hourly-etl/shopify-eu",
        "daily-rfm/shopify-eu",
        "backfill/shopify-eu",
        "daily-digest/shopify-eu",
        "weekly-review/shopify-eu",
    ]
    assert {p.timezone for p in plans if p.shop == "shopify-eu"} == {"Europe/Berlin"}
    assert [p.cron for p in plans[:5]] == [
        "5 * * * *",
        "20 0 * * *",
        None,
        "0 9 * * *",
        "0 9 * * 1",
    ]


def test_shoppulse_deploy_creates_them_through_the_api(fleet: Path, pool: str) -> None:
    result = CliRunner().invoke(app, ["deploy", "-c", str(fleet), "--pool", pool])
    assert result.exit_code == 0, result.output
    with get_client(sync_client=True) as client:
        hourly = client.read_deployment_by_name("hourly-etl/shopify-eu")
        backfill = client.read_deployment_by_name("backfill/tmall-flagship")
    (schedule,) = hourly.schedules
    assert schedule.schedule.cron == "5 * * * *"  # type: ignore[union-attr]
    assert schedule.schedule.timezone == "Europe/Berlin"  # type: ignore[union-attr]
    assert hourly.work_pool_name == pool
    assert hourly.parameters == {"config": str((fleet.parent / "shopify-eu.yaml").resolve())}
    # loading the flows left nothing on sys.path (flows/secrets.py would shadow `secrets`)
    assert str(Path(flows.__file__).parent) not in sys.path
    # the installed package's module, whatever folder the worker runs in
    assert hourly.entrypoint == "flows.etl.hourly_etl"
    assert not hourly.pull_steps and backfill.entrypoint == "flows.backfill.backfill"
    assert backfill.schedules == [] and backfill.parameters["alerts"] == "off"


def test_a_missing_work_pool_is_named_with_the_command_to_create_it(fleet: Path) -> None:
    from flows.deployments import apply_deployments

    plans = plan_deployments(load_shops([fleet]))
    with pytest.raises(DeployError, match="prefect work-pool create no-such-pool --type process"):
        apply_deployments(plans, work_pool="no-such-pool")


def test_without_a_prefect_server_it_says_to_set_the_api_url(fleet: Path) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.deployments import apply_deployments

    plans = plan_deployments(load_shops([fleet]))
    with (
        temporary_settings(restore_defaults={PREFECT_API_URL}),
        pytest.raises(DeployError, match="set PREFECT_API_URL"),
    ):
        apply_deployments(plans)


def test_prefect_yaml_defines_the_same_flows_schedules_and_parameters(fleet: Path) -> None:
    """The two ways to deploy stay equal: prefect.yaml's deployments and `shoppulse deploy`'s
    run the same flows on the same crons with the same parameter names."""
    from prefect.utilities.importtools import import_object

    doc = yaml.safe_load((Path(flows.__file__).parent.parent / "prefect.yaml").read_text())
    from_yaml = {
        d["name"]: (
            d["entrypoint"].split(":")[1],
            [s["cron"] for s in d["schedules"]],
            set(d["parameters"]),
        )
        for d in doc["deployments"]
    }
    plans = [p for p in plan_deployments(load_shops([fleet])) if p.shop == "shopify-eu"]
    from_config = {
        p.flow_name: (
            import_object(p.entrypoint).fn.__name__,
            [p.cron] if p.cron else [],
            set(p.parameters),
        )
        for p in plans
    }
    assert from_config == from_yaml
