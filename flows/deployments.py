"""Each shop's deployments on a Prefect work pool, made from its config through Prefect's API.

The Python form of prefect.yaml's deployments, one set per shop: `hourly-etl/<shop>`
(cron HOURLY_CRON), `daily-rfm/<shop>` (DAILY_RFM_CRON), the reviews `daily-digest/<shop>`
(DAILY_DIGEST_CRON) and `weekly-review/<shop>` (WEEKLY_REVIEW_CRON), all in the shop's own
timezone from its config, and `backfill/<shop>` (unscheduled), each passing the shop's config
file by its absolute path. Entrypoints are module paths (`flows.etl.hourly_etl`): a worker
imports the installed shoppulse package, whatever folder it runs in, and nothing is loaded from a
file path here (Prefect's script loader would leave the `flows/` folder on sys.path, where its
`secrets.py` shadows the standard library's).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flows.errors import DeployError
from flows.shops import Shop

__all__ = [
    "DAILY_DIGEST_CRON",
    "DAILY_RFM_CRON",
    "HOURLY_CRON",
    "WEEKLY_REVIEW_CRON",
    "WORK_POOL",
    "DeploymentPlan",
    "apply_deployments",
    "config_parameter",
    "plan_deployments",
]

HOURLY_CRON = "5 * * * *"
# after the 00:05 run has closed the day's last hour
DAILY_RFM_CRON = "20 0 * * *"
# the reviews, read at the start of the working day
DAILY_DIGEST_CRON = "0 9 * * *"
WEEKLY_REVIEW_CRON = "0 9 * * 1"
WORK_POOL = "shoppulse"
# the same environment prefect.yaml gives its runs
JOB_ENV = {"PREFECT_LOGGING_LEVEL": "INFO", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


@dataclass(frozen=True)
class DeploymentPlan:
    """One deployment to create: which flow, for which shop, on which schedule."""

    flow_name: str
    entrypoint: str
    shop: str
    parameters: dict[str, Any]
    cron: str | None
    timezone: str

    @property
    def full_name(self) -> str:
        """How Prefect names it: `<flow>/<shop>`."""
        return f"{self.flow_name}/{self.shop}"


def config_parameter(config: Path) -> str:
    """The `config` a deployment passes: the file's absolute path, so the run finds it from
    whatever folder the worker runs in."""
    return str(config.resolve())


def plan_deployments(shops: Sequence[Shop]) -> list[DeploymentPlan]:
    """Per shop: hourly ETL, daily RFM, backfill and the two reviews, on the shop's clock,
    passing its config."""
    plans = []
    for shop in shops:
        tz = shop.settings.shop.timezone
        config = {"config": config_parameter(shop.config)}
        plans += [
            DeploymentPlan(
                "hourly-etl", "flows.etl.hourly_etl", shop.name, config, HOURLY_CRON, tz
            ),
            DeploymentPlan(
                "daily-rfm", "flows.rfm.daily_rfm", shop.name, config, DAILY_RFM_CRON, tz
            ),
            DeploymentPlan(
                "backfill",
                "flows.backfill.backfill",
                shop.name,
                {**config, "alerts": "off"},
                None,
                tz,
            ),
            DeploymentPlan(
                "daily-digest",
                "flows.digest.daily_digest",
                shop.name,
                config,
                DAILY_DIGEST_CRON,
                tz,
            ),
            DeploymentPlan(
                "weekly-review",
                "flows.digest.weekly_review",
                shop.name,
                config,
                WEEKLY_REVIEW_CRON,
                tz,
            ),
        ]
    return plans


def _check_api(work_pool: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    from flows.local_server import configured_api_url

    # the command's own temporary server (a Secret block looked up) would end with it
    if not configured_api_url():
        raise DeployError(
            "deployments need a Prefect server: set PREFECT_API_URL"
            " (e.g. http://127.0.0.1:4200/api after `prefect server start`)"
        )
    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(work_pool)
        except ObjectNotFound:
            raise DeployError(
                f"work pool {work_pool!r} not found: create it with"
                f" `prefect work-pool create {work_pool} --type process`"
            ) from None


def _deployment(plan: DeploymentPlan, work_pool: str) -> Any:
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.deployments.runner import EntrypointType
    from prefect.schedules import Cron
    from prefect.utilities.importtools import import_object

    flow = import_object(plan.entrypoint)
    hourly = plan.flow_name == "hourly-etl"
    return flow.to_deployment(
        name=plan.shop,
        parameters=plan.parameters,
        schedules=[Cron(plan.cron, timezone=plan.timezone)] if plan.cron else [],
        # a late hourly run queues behind the one before it instead of racing it
        concurrency_limit=ConcurrencyLimitConfig(
            limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE
        )
        if hourly
        else None,
        tags=["shoppulse", f"shop:{plan.shop}", plan.flow_name],
        work_pool_name=work_pool,
        work_queue_name="default",
        job_variables={"env": JOB_ENV},
        entrypoint_type=EntrypointType.MODULE_PATH,
    )


def apply_deployments(plans: Sequence[DeploymentPlan], *, work_pool: str = WORK_POOL) -> list[str]:
    """Create or update every planned deployment on `work_pool`; returns their ids."""
    _check_api(work_pool)
    ids = []
    for plan in plans:
        deployment = _deployment(plan, work_pool)
        ids.append(str(deployment.apply(work_pool_name=work_pool)))
    return ids
