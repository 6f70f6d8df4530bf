"""What a run tells people: a summary dict, and Prefect artifacts built from it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.context import FlowRunContext, TaskRunContext

from flows.errors import EXPECTED_ERRORS, ExportError, RunIncompleteError
from flows.pipeline import RunResult
from flows.settings import Settings
from flows.warehouse import Warehouse
from transforms.rules.data_gap import ALERTNAME as DATA_GAP

__all__ = [
    "BASELINE_DAYS",
    "alerts_sent",
    "artifact_key",
    "create_progress",
    "empty_reason",
    "failure_artifact",
    "kpi_baseline",
    "publish_backfill_artifacts",
    "publish_run_artifacts",
    "run_summary",
    "update_progress",
]

BASELINE_DAYS = 7
# rates and ratios are recomputed from summed bases over the baseline hours, never averaged
_RATIOS = {
    "conversion_rate": ("buyers", "visitors"),
    "bounce_rate": ("bounces", "visitors"),
    "aov": ("gmv", "buyers"),
}


def _in_run() -> bool:
    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


def artifact_key(shop: str, kind: str) -> str:
    """An artifact key Prefect accepts (lowercase letters, digits, dashes) for a shop's kind."""
    raw = f"{shop}-{kind}".lower()
    return "".join(c if c.isalnum() and c.isascii() else "-" for c in raw).strip("-")


def _same_local_hour(hour: datetime, tz: ZoneInfo, days_back: int) -> datetime:
    # the same wall-clock hour `days_back` local days earlier (a DST day is not 24 hours)
    local = hour.astimezone(tz).replace(tzinfo=None) - timedelta(days=days_back)
    return local.replace(tzinfo=tz).astimezone(UTC)


def kpi_baseline(wh: Warehouse, tz: ZoneInfo, hour: datetime) -> dict[str, dict[str, Any]]:
    """Per KPI: the same local hour yesterday, and its mean over the last BASELINE_DAYS days;
    hours not known to be complete count for neither."""
    hours = [_same_local_hour(hour, tz, k) for k in range(1, BASELINE_DAYS + 1)]
    rows = wh.frame(
        "select * exclude (complete) from mart.kpi_hourly"
        " where hour in (select unnest($hours)) and complete is not false",
        {"hours": hours},
    ).to_dicts()
    by_hour = {row["hour"]: row for row in rows}
    yesterday = by_hour.get(hours[0], {})
    baseline: dict[str, dict[str, Any]] = {}
    if not rows:
        return baseline
    for name, value in rows[0].items():
        if name == "hour" or isinstance(value, bool) or not isinstance(value, int | float | None):
            continue
        if name in _RATIOS:
            num, den = _RATIOS[name]
            top = sum(r[num] or 0 for r in rows)
            bottom = sum(r[den] or 0 for r in rows)
            mean = top / bottom if bottom else None
        else:
            values = [r[name] for r in rows if r[name] is not None]
            mean = sum(values) / len(values) if values else None
        baseline[name] = {"yesterday": yesterday.get(name), "mean_7d": mean, "days": len(rows)}
    return baseline


def alerts_sent(wh: Warehouse, hour: datetime) -> list[dict[str, Any]]:
    """The alert notices the run for `hour` sent (deliver mode), most impact first."""
    rows = wh.rows(
        """
        select alertname, severity, status, notify, labels, annotations, silenced
        from ops.alerts
        where hour = ? and notify is not null and mode = 'deliver'
        order by impact desc, alertname
        """,
        [hour],
    )
    sent = []
    for alertname, severity, status, notify, labels, notes, silenced in rows:
        scope = {
            k: v
            for k, v in json.loads(labels).items()
            if k not in ("alertname", "severity", "shop")
        }
        sent.append(
            {
                "alertname": alertname,
                "severity": severity,
                "status": status,
                "notify": notify,
                "scope": scope,
                "summary": json.loads(notes).get("summary", ""),
                "silenced": bool(silenced),
            }
        )
    return sent


def _deliveries(wh: Warehouse, hour: datetime) -> dict[str, int]:
    rows = wh.rows(
        "select state, count(*) from ops.deliveries where hour = ? group by state order by state",
        [hour],
    )
    return {state: int(n) for state, n in rows}


def run_summary(wh: Warehouse, settings: Settings, run: RunResult) -> dict[str, Any]:
    """The run's counts, failures, the KPI row of the hour it closed with its baseline, and the
    alerts it sent."""
    hour = run.until - timedelta(hours=1)
    rows = wh.frame("select * from mart.kpi_hourly where hour = ?", [hour]).to_dicts()
    kpis = {k: v for k, v in rows[0].items() if k not in ("hour", "complete")} if rows else {}
    return {
        "shop": settings.shop.name,
        "run_id": run.run_id,
        "hour": hour.astimezone(settings.shop.tz).isoformat(),
        "status": run.status,
        # records the exports returned for each window, and of those the new ones merged
        # (a record raw already holds unchanged is not landed again)
        "received": {d: r.received for d, r in run.loads.items()},
        "loaded": {d: r.loaded for d, r in run.loads.items()},
        "quarantined": {d: r.quarantined for d, r in run.loads.items() if r.quarantined},
        "failures": dict(run.failures),
        "not_provided": {d: "not provided by this source" for d in run.not_provided},
        DATA_GAP: {"datasets": run.gaps, "detail": run.gap_detail} if run.gaps else None,
        "quarantine_over_limit": dict(run.too_dirty),
        "hours_refreshed": run.hours_refreshed,
        "kpis": kpis,
        # false when a dataset the hour needs was not extracted for it: no comparison is made
        "complete": bool(rows and rows[0]["complete"] is not False),
        "baseline": kpi_baseline(wh, settings.shop.tz, hour),
        "alerts": alerts_sent(wh, hour),
        "deliveries": _deliveries(wh, hour),
    }


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1 else f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _change(value: Any, base: Any) -> float | None:
    if not isinstance(value, int | float) or not isinstance(base, int | float) or not base:
        return None
    return (value - base) / base


def _kpi_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    baseline = summary.get("baseline", {})
    complete = summary.get("complete", True)
    rows = []
    for name, value in summary["kpis"].items():
        base = baseline.get(name, {})
        rows.append(
            {
                "kpi": name,
                "value": value,
                "same_hour_yesterday": base.get("yesterday"),
                "mean_7d": base.get("mean_7d"),
                # an incomplete hour is no drop or spike: it is not compared
                "change_vs_7d": _change(value, base.get("mean_7d")) if complete else None,
            }
        )
    return rows


def empty_reason(summary: dict[str, Any]) -> str | None:
    """Why the run's KPI table is empty or its hour not compared, or None when it is neither."""
    if summary["kpis"] and summary.get("complete", True):
        return None
    if summary["kpis"]:
        why = (
            f"hour {summary['hour']} is incomplete: a dataset its KPIs need (orders, traffic)"
            " was not extracted for it, so it is not compared with the baseline"
        )
    else:
        why = f"no KPI row for hour {summary['hour']}: no loaded order or traffic row falls in it"
    if summary["failures"]:
        why += f" (exports failed: {', '.join(summary['failures'])})"
    return why


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:+.1%}"


def publish_run_artifacts(summary: dict[str, Any]) -> None:
    """A markdown and a table artifact for the run, when inside a Prefect run."""
    if not _in_run():
        return
    lines = [
        f"# {summary['shop']} — hour {summary['hour']}",
        "",
        f"status: **{summary['status']}** · hours refreshed: {summary['hours_refreshed']}",
        "",
    ]
    if summary["failures"]:
        lines += ["## Export failures", "", "| dataset | reason |", "|---|---|"]
        lines += [f"| `{d}` | {reason} |" for d, reason in summary["failures"].items()]
        lines.append("")
    if summary.get(DATA_GAP):
        gap = summary[DATA_GAP]
        lines += ["## Data gap", "", f"missing: {', '.join(gap['datasets'])}", ""]
        lines += [f"- {line}" for line in gap["detail"].splitlines()]
        lines.append("")
    rows = _kpi_rows(summary)
    lines += ["## KPIs against baseline", ""]
    if rows:
        lines += [
            "| KPI | value | same hour yesterday | 7-day mean | vs 7-day |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['kpi']} | {_fmt(r['value'])} | {_fmt(r['same_hour_yesterday'])}"
            f" | {_fmt(r['mean_7d'])} | {_pct(r['change_vs_7d'])} |"
            for r in rows
        ]
    reason = empty_reason(summary)
    if reason:
        lines += ["", f"Note: {reason}."]
    alerts = summary.get("alerts", [])
    lines += ["", "## Alerts sent", ""]
    if alerts:
        lines += ["| alert | severity | notice | scope | summary |", "|---|---|---|---|---|"]
        lines += [
            f"| {a['alertname']} | {a['severity']} | {a['notify']}"
            f"{' (silenced)' if a['silenced'] else ''}"
            f" | {', '.join(f'{k}={v}' for k, v in a['scope'].items()) or 'shop'}"
            f" | {a['summary']} |"
            for a in alerts
        ]
    else:
        lines.append("None.")
    if summary.get("deliveries"):
        states = ", ".join(f"{s}: {n}" for s, n in summary["deliveries"].items())
        lines += ["", f"messages this hour — {states}"]
    lines += [
        "",
        "## Loads",
        "",
        "| dataset | received | new, loaded | quarantined |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {d} | {summary.get('received', {}).get(d, '')} | {n}"
        f" | {summary['quarantined'].get(d, 0)} |"
        for d, n in summary["loaded"].items()
    ]
    key = artifact_key(summary["shop"], "hourly")
    create_markdown_artifact("\n".join(lines), key=key, description="hourly run summary")
    # published even when empty, so every run has one; the description says why
    create_table_artifact(
        rows,
        key=f"{key}-kpis",
        description="KPIs of the hour vs baseline" + (f". Note: {reason}." if reason else ""),
    )


@contextmanager
def failure_artifact(shop: str, what: str) -> Iterator[None]:
    """On an expected failure inside the block, publish a markdown artifact naming the failing
    dataset (for an export) and the reason, then let the error go on."""
    try:
        yield
    except EXPECTED_ERRORS as exc:
        if _in_run():
            lines = [f"# {shop} — {what} failed", ""]
            if isinstance(exc, RunIncompleteError):
                failures = exc.summary.get("failures", {})
                lines += [f"- dataset: `{d}`: {reason}" for d, reason in failures.items()]
                gap = exc.summary.get(DATA_GAP) or {}
                lines += [f"- no data: `{d}`" for d in gap.get("datasets", []) if d not in failures]
            else:
                dataset = exc.dataset if isinstance(exc, ExportError) else None
                lines.append(f"- dataset: `{dataset}`" if dataset else "- dataset: —")
            lines += [f"- reason: {exc}", f"- error: `{type(exc).__name__}`"]
            create_markdown_artifact(
                "\n".join(lines), key=artifact_key(shop, "failure"), description=f"{what} failed"
            )
        raise


def create_progress(shop: str) -> UUID | None:
    """A progress artifact at 0% for a shop's backfill, when inside a Prefect run."""
    if not _in_run():
        return None
    artifact = create_progress_artifact(
        0.0, key=artifact_key(shop, "backfill-progress"), description=f"backfill of {shop}"
    )
    assert isinstance(artifact, UUID)  # the sync form, called from sync code
    return artifact


def update_progress(artifact_id: UUID, percent: float) -> None:
    """Move a progress artifact to `percent` (0-100)."""
    update_progress_artifact(artifact_id, min(100.0, max(0.0, percent)))


def publish_backfill_artifacts(summary: dict[str, Any]) -> None:
    """A markdown summary of a backfill, and a table of its failed chunks if any."""
    if not _in_run():
        return
    lines = [
        f"# {summary['shop']} — backfill {summary['start']} .. {summary['end']}",
        "",
        f"chunks loaded: **{summary['chunks_loaded']} of {summary['chunks']}**"
        f" (skipped as already loaded: {summary['chunks_skipped']}) · alerts: {summary['alerts']}"
        f" · hours refreshed: {summary['hours_refreshed']} · {summary['seconds']:.1f}s",
        "",
        "| dataset | loaded | quarantined |",
        "|---|---|---|",
    ]
    lines += [
        f"| {d} | {n:,} | {summary['quarantined'].get(d, 0):,} |"
        for d, n in summary["loaded"].items()
    ]
    if summary["failed"]:
        lines += ["", "## Chunks not loaded", "", "| chunk | dataset | reason |", "|---|---|---|"]
        lines += [
            f"| {f['chunk']} | {f['dataset'] or '—'} | {f['error']} |" for f in summary["failed"]
        ]
        lines += [
            "",
            f"Rerun: `shoppulse backfill --start {summary['failed'][0]['start']}"
            f" --end {summary['end']} --resume`",
        ]
    key = artifact_key(summary["shop"], "backfill")
    create_markdown_artifact("\n".join(lines), key=key, description="backfill summary")
    if summary["failed"]:
        create_table_artifact(
            summary["failed"], key=f"{key}-failed", description="chunks not loaded"
        )
