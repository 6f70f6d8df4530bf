"""Prefect flows: the hourly ETL, wiring extract → load → marts with thin tasks."""

from __future__ import annotations

from contextlib import closing
from datetime import datetime, timedelta
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows.clock import hour_end
from flows.pipeline import (
    RunResult,
    Window,
    finish_run,
    load_window,
    not_provided,
    plan_windows,
    refresh,
    start_run,
)
from flows.report import failure_artifact, publish_run_artifacts, run_summary
from flows.rules_runner import evaluate_and_dispatch
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
def alerts_task(wh: Warehouse, settings: Settings, hour: datetime) -> None:
    evaluate_and_dispatch(wh, settings, hour, mode="deliver")


def run_configured_hour(settings: Settings, hour: str | None = None) -> dict[str, Any]:
    """One hourly run of a shop under its writer lock, each step a Prefect task."""
    until = hour_end(hour, settings.shop.tz)
    with (
        writing(settings, f"hourly run of {settings.shop.name} for {until.isoformat()}") as wh,
        closing(make_source(settings.source)) as source,
    ):
        run = start_run(wh, until)
        run.not_provided = not_provided(settings, source)
        for window in plan_windows(wh, settings, until, source.provides):
            load_window_task(wh, source, run, window)
        refresh_task(wh, settings, run)
        alerts_task(wh, settings, until - timedelta(hours=1))
        finish_run(wh, run)
        summary = run_summary(wh, settings, run)
    publish_run_artifacts(summary)
    return summary


@flow(name="hourly-etl", log_prints=True)
def hourly_etl(config: str = "shoppulse.yaml", hour: str | None = None) -> dict[str, Any]:
    """Pull the shop's exports up to the end of `hour` (default: the last whole hour) and
    refresh its KPIs."""
    # a config that fails to load (a missing secret) also leaves a failure artifact
    with failure_artifact(shop_label(config), "hourly run"):
        settings = load_settings(config, env=run_env())
        return run_configured_hour(settings, hour)
