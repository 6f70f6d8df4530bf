"""What a run tells people: a summary dict, and Prefect artifacts built from it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.context import get_run_context

from flows.pipeline import RunResult
from flows.settings import Settings
from flows.warehouse import Warehouse

__all__ = ["publish_run_artifacts", "run_summary"]


def run_summary(wh: Warehouse, settings: Settings, run: RunResult) -> dict[str, Any]:
    """The run's counts, failures and the KPI row of the hour it closed."""
    hour = run.until - timedelta(hours=1)
    rows = wh.frame("select * from mart.kpi_hourly where hour = ?", [hour]).to_dicts()
    return {
        "shop": settings.shop.name,
        "run_id": run.run_id,
        "hour": hour.astimezone(settings.shop.tz).isoformat(),
        "status": run.status,
        "loaded": {d: r.loaded for d, r in run.loads.items()},
        "quarantined": {d: r.quarantined for d, r in run.loads.items() if r.quarantined},
        "failures": dict(run.failures),
        "hours_refreshed": run.hours_refreshed,
        "kpis": {k: v for k, v in rows[0].items() if k != "hour"} if rows else {},
    }


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1 else f"{value:,.2f}"
    return str(value)


def publish_run_artifacts(summary: dict[str, Any]) -> None:
    """A markdown and a table artifact for the run, when inside a Prefect run."""
    try:
        get_run_context()
    except Exception:
        return
    lines = [
        f"# {summary['shop']} — hour {summary['hour']}",
        "",
        f"status: **{summary['status']}** · hours refreshed: {summary['hours_refreshed']}",
        "",
    ]
    if summary["failures"]:
        lines += ["## Export failures", ""]
        lines += [f"- `{d}`: {reason}" for d, reason in summary["failures"].items()]
        lines.append("")
    lines += ["| KPI | value |", "|---|---|"]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in summary["kpis"].items()]
    lines += ["", "| dataset | loaded | quarantined |", "|---|---|---|"]
    lines += [
        f"| {d} | {n} | {summary['quarantined'].get(d, 0)} |" for d, n in summary["loaded"].items()
    ]
    key = f"{summary['shop']}-hourly".lower().replace("_", "-").replace(".", "-")
    create_markdown_artifact("\n".join(lines), key=key, description="hourly run summary")
    if summary["kpis"]:
        create_table_artifact(
            [{"kpi": k, "value": v} for k, v in summary["kpis"].items()],
            key=f"{key}-kpis",
            description="KPIs of the hour",
        )
