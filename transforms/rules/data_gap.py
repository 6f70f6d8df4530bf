"""data_gap: an export failed after its retries, or returned nothing where the baseline
expects volume. A gap holds back conversion_drop and cancel_spike for the same
hour: a missing export is never reported as a business drop. See `transforms.gaps`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import polars as pl

from transforms.gaps import data_gap, expected_volume
from transforms.rules import cancel_spike, conversion_drop
from transforms.rules.base import Candidate, Context, Rule, RuleSettings, utc
from transforms.rules.words import is_zh
from transforms.time import local_hour_start

__all__ = ["ALERTNAME", "GAP_DATASETS", "RULE", "DataGapSettings"]

ALERTNAME = "data_gap"
GAP_DATASETS = ("orders", "traffic", "inventory", "keywords")
INHIBITS = frozenset({conversion_drop.ALERTNAME, cancel_spike.ALERTNAME})
Row = Mapping[str, Any]


class DataGapSettings(RuleSettings):
    """`rules.data_gap`: nothing to set yet; the expected volume uses conversion_drop's days."""


def evaluate(ctx: Context) -> list[Candidate]:
    """One candidate naming every dataset of the hour that failed or came back empty."""
    conversion: conversion_drop.ConversionDropSettings = ctx.rules.of(conversion_drop.ALERTNAME)
    h = ctx.hour
    failures = ctx.read("rules_export_failures", {"as_of": h.end})
    days = conversion.baseline_days
    volumes = utc(
        ctx.read("rules_volumes", {"start": h.start - timedelta(days=days), "end": h.end}),
        "bucket",
    )
    counts = (
        volumes.with_columns(hour=local_hour_start(pl.col("bucket"), h.tz))
        .group_by("dataset", "hour")
        .agg(rows=pl.col("row_count").sum())
    )
    observed = counts.filter(pl.col("hour") == h.start).select("dataset", "rows")
    expected = expected_volume(counts.filter(pl.col("hour") < h.start), h.start, h.tz)
    found = data_gap(
        failures,
        observed,
        expected.filter(pl.col("dataset").is_in(GAP_DATASETS)),
        h.start,
    )
    if found.is_empty():
        return []
    return [_candidate(found.to_dicts(), locale=ctx.locale)]


def _candidate(rows: Sequence[Row], *, locale: str = "en") -> Candidate:
    """One data_gap for the hour, naming every dataset that is missing and why."""
    names = ", ".join(str(r["dataset"]) for r in rows)
    failed = [r for r in rows if r["kind"] == "export_failed"]
    if is_zh(locale):
        summary = f"数据缺失：{names}"
        description = "本时段数据不完整，转化率和取消率告警已抑制；下次运行会重新拉取。"
        action = "检查导出接口的状态和凭据；如持续缺失，请联系平台。"
        lines = [
            f"{r['dataset']}：导出失败（{r['error']}）"
            if r["kind"] == "export_failed"
            else f"{r['dataset']}：无数据（通常约 {r['expected']:.0f} 行）"
            for r in rows
        ]
    else:
        summary = f"Data missing for this hour: {names}"
        description = (
            "The hour's numbers are incomplete: conversion and cancellation alerts are held"
            " back for it; the next run reads the window again."
        )
        action = (
            "Check the export API's status and credentials; if it persists, contact the platform."
        )
        lines = [
            f"{r['dataset']}: export failed ({r['error']})"
            if r["kind"] == "export_failed"
            else f"{r['dataset']}: no rows (usually about {r['expected']:.0f})"
            for r in rows
        ]
    annotations = {
        "summary": summary,
        "description": description,
        "value": str(len(rows)),
        "baseline": "",
        "unit": "count",
        "action": action,
        "root_cause": "\n".join(lines),
        "datasets": names,
    }
    severity = "critical" if failed else "warning"
    return Candidate(ALERTNAME, severity, {}, annotations, inhibits=INHIBITS, incomplete=True)


RULE = Rule(
    alertname=ALERTNAME,
    title={"en": "Data gap", "zh-CN": "数据缺失"},
    settings=DataGapSettings,
    reads=("rules_export_failures", "rules_volumes"),
    evaluate=evaluate,
    doc=__doc__ or "",
)
