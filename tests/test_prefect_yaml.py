"""prefect.yaml: every deployment's entrypoint imports to a flow taking what the deployment
passes, schedules are what DESIGN.md §2 fixes, and nothing secret is written in it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from prefect.cli.deploy._models import PrefectYamlModel
from prefect.flows import Flow, load_flow_from_entrypoint
from prefect.utilities.callables import parameter_schema

ROOT = Path(__file__).resolve().parent.parent
PREFECT_YAML = ROOT / "prefect.yaml"
DOC = yaml.safe_load(PREFECT_YAML.read_text(encoding="utf-8"))
DEPLOYMENTS = {d["name"]: d for d in DOC["deployments"]}
# what a deployment run must be given when it is triggered by hand, beyond its parameters
RUN_TIME_PARAMETERS = {"backfill": {"start", "end"}}


def test_prefect_validates_the_file() -> None:
    PrefectYamlModel.model_validate(DOC)


def test_the_deployments_exist() -> None:
    assert set(DEPLOYMENTS) == {
        "hourly-etl",
        "daily-rfm",
        "backfill",
        "daily-digest",
        "weekly-review",
    }


@pytest.fixture(params=sorted(DEPLOYMENTS))
def deployment(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.chdir(ROOT)  # entrypoints are paths relative to the project, as `prefect deploy`
    return DEPLOYMENTS[request.param]


def test_entrypoint_is_a_flow_taking_the_parameters(deployment: dict[str, Any]) -> None:
    flow = load_flow_from_entrypoint(deployment["entrypoint"])
    assert isinstance(flow, Flow)
    schema = parameter_schema(flow)
    passed = set(deployment.get("parameters", {}))
    assert passed <= set(schema.properties), f"{deployment['name']} passes unknown parameters"
    missing = set(schema.required or []) - passed
    assert missing == RUN_TIME_PARAMETERS.get(deployment["name"], set())
    given = {**deployment.get("parameters", {})}
    given.update({name: "2026-11-01T00:00" for name in missing})
    flow.validate_parameters(given)  # values have the types the flow declares


def test_hourly_runs_at_five_past_in_the_shop_timezone() -> None:
    (schedule,) = DEPLOYMENTS["hourly-etl"]["schedules"]
    assert schedule["cron"] == "5 * * * *"
    ZoneInfo(schedule["timezone"])


def test_daily_rfm_is_scheduled_and_backfill_is_not() -> None:
    (schedule,) = DEPLOYMENTS["daily-rfm"]["schedules"]
    ZoneInfo(schedule["timezone"])
    assert not DEPLOYMENTS["backfill"].get("schedules")
    assert DEPLOYMENTS["backfill"]["parameters"]["alerts"] == "off"


def test_reviews_run_at_nine_daily_and_on_mondays_in_the_shop_timezone() -> None:
    (daily,) = DEPLOYMENTS["daily-digest"]["schedules"]
    (weekly,) = DEPLOYMENTS["weekly-review"]["schedules"]
    assert (daily["cron"], weekly["cron"]) == ("0 9 * * *", "0 9 * * 1")
    assert (
        daily["timezone"]
        == weekly["timezone"]
        == DEPLOYMENTS["hourly-etl"]["schedules"][0]["timezone"]
    )


def test_every_deployment_uses_the_defined_work_pool() -> None:
    pools = {p["name"] for p in DOC["definitions"]["work_pools"].values()}
    assert {d["work_pool"]["name"] for d in DOC["deployments"]} <= pools


def _values(node: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(node, dict):
        return [kv for k, v in node.items() for kv in _values(v, f"{path}.{k}")]
    if isinstance(node, list):
        return [kv for i, v in enumerate(node) for kv in _values(v, f"{path}.{i}")]
    return [(path, node)]


def test_no_secret_is_written_in_it() -> None:
    secretish = re.compile(r"token|secret|password|passwd|api_key|webhook|access", re.IGNORECASE)
    for path, value in _values(DOC):
        if secretish.search(path):
            # only a reference, resolved by Prefect, may stand where a secret goes
            assert isinstance(value, str) and value.startswith("{{ prefect."), path
