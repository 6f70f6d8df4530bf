"""Prefect flows: the hourly ETL, wiring extract → load → marts with thin tasks."""

from __future__ import annotations

from contextlib import closing
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows.clock import hour_end
from flows.errors import EXIT_NOTHING_LOADED, EXIT_PARTIAL, RunIncompleteError
from flows.pipeline import (
    RunResult,
    Window,
    evaluate,
    finish_run,
    load_window,
    not_provided,
    plan_windows,
    refresh,
    start_run,
)
from flows.report import failure_artifact, publish_run_artifacts, run_summary
from flows.secrets import run_env
from flows.settings import Settings, load_settings, shop_label
from flows.warehouse import Warehouse
from flows.warehouse.lock import writing
from sources import ExportSource, make_source

__all__ = ["hourly_etl", "run_configured_hour"]


@task(name="load-dataset", task_run_name="load-{window.dataset}", cache_policy=NO_CACHE)
def load_window_task(wh: Warehouse, source: ExportSource, run: RunResult, window: Window) -> None:
    load_window(wh, source, run, window)


@task(name="refresh-marts", cache_policy=NO_CACHE)
def refresh_task(wh: Warehouse, settings: Settings, run: RunResult) -> None:
    refresh(wh, settings, run)


@task(name="evaluate-alerts", cache_policy=NO_CACHE)
def alerts_task(wh: Warehouse, settings: Settings, run: RunResult) -> None:
    evaluate(wh, settings, run, mode="deliver")


def run_configured_hour(settings: Settings, hour: str | None = None) -> dict[str, Any]:
    """One hourly run of a shop under its writer lock, each step a Prefect task.

    A failed export or an hour without the data its baseline expects does not stop the run:
    what loaded is committed and the alerts (data_gap among them) are sent, then the run
    raises RunIncompleteError carrying its summary, so Prefect marks it Failed.
    """
    until = hour_end(hour, settings.shop.tz)
    with (
        writing(settings, f"hourly run of {settings.shop.name} for {until.isoformat()}") as wh,
        closing(make_source(settings.source)) as source,
    ):
        run = start_run(wh, until, max_quarantine_ratio=settings.source.max_quarantine_ratio)
        run.not_provided = not_provided(settings, source)
        for window in plan_windows(wh, settings, until, source.provides):
            load_window_task(wh, source, run, window)
        refresh_task(wh, settings, run)
        alerts_task(wh, settings, run)
        finish_run(wh, run)
        summary = run_summary(wh, settings, run)
    publish_run_artifacts(summary)
    problem = run.problem()
    if problem is not None:
        code = EXIT_NOTHING_LOADED if run.status == "failed" else EXIT_PARTIAL
        raise RunIncompleteError(
            f"hourly run of {settings.shop.name} for hour {summary['hour']} {run.status}: "
            + problem,
            summary,
            code,
        )
    return summary


@flow(name="hourly-etl", log_prints=True)
def hourly_etl(config: str = "shoppulse.yaml", hour: str | None = None) -> dict[str, Any]:
    """Pull the shop's exports up to the end of `hour` (default: the last whole hour) and
    refresh its KPIs."""
    # a config that fails to load (a missing secret) also leaves a failure artifact
    with failure_artifact(shop_label(config), "hourly run"):
        settings = load_settings(config, env=run_env())
        return run_configured_hour(settings, hour)
