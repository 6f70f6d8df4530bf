"""`shoppulse deploy`: each shop's Prefect deployments on a work pool, from its config."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from flows.cli.options import DEFAULT_CONFIG, ConfigsOption, app, echo_json

__all__ = ["deploy"]


@app.command()
def deploy(
    config: ConfigsOption = None,
    pool: Annotated[
        str, typer.Option("--pool", help="Prefect work pool the deployments run on.")
    ] = "shoppulse",
) -> None:
    """Create each shop's hourly-etl, daily-rfm and backfill deployments (PREFECT_API_URL)."""
    from flows.deployments import apply_deployments, plan_deployments
    from flows.secrets import secret_env
    from flows.shops import load_shops

    # every config is checked first, its ${VAR}s against the environment or Secret blocks
    plans = plan_deployments(load_shops(config or [DEFAULT_CONFIG], secret_env()))
    ids = apply_deployments(plans, work_pool=pool)
    for plan in plans:
        when = f"cron {plan.cron!r} in {plan.timezone}" if plan.cron else "run on demand"
        print(
            f"deployed {plan.full_name}: {when}, config {plan.parameters['config']}",
            file=sys.stderr,
        )
    echo_json(
        [
            {
                "deployment": plan.full_name,
                "id": id_,
                "cron": plan.cron,
                "timezone": plan.timezone,
                "parameters": plan.parameters,
                "work_pool": pool,
            }
            for plan, id_ in zip(plans, ids, strict=True)
        ]
    )
