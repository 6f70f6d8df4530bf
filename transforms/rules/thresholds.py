"""User threshold rules (`rules.thresholds` in shoppulse.yaml): a metric compared with a value
for the shop, each source or each SKU. Each configured rule fires under its own name; the
comparison lives in `transforms.thresholds`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from transforms.rules.base import Candidate, Context
from transforms.rules.words import is_zh, num
from transforms.thresholds import METRICS, Threshold, threshold_breaches, unknown_metric

__all__ = ["ThresholdError", "ThresholdRule", "evaluate_thresholds"]

Row = Mapping[str, Any]


class ThresholdError(ValueError):
    """A configured threshold rule cannot be applied to the hour's measures."""


class ThresholdRule(BaseModel):
    """One `rules.thresholds[]` entry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="the alertname this rule fires under")
    metric: str = Field(
        description="a numeric column of `mart.kpi_hourly` (e.g. `conversion_rate`,"
        " `bounce_rate`, `gmv`)"
    )
    op: Literal[">", ">=", "<", "<=", "==", "!="] = Field(
        description="comparison of the metric with `value`"
    )
    value: float = Field(description="the threshold")
    scope: Literal["shop", "source", "sku"] = Field(
        default="shop", description="compare for the shop, each traffic source, or each SKU"
    )
    during_promo: bool | None = Field(
        default=None,
        description="only in promotion hours (true), only outside them (false), or always",
    )
    min_visitors: int = Field(default=0, description="skip scopes with fewer visitors in the hour")
    for_hours: int = Field(
        default=1, ge=1, description="hours the breach must last before the alert fires"
    )
    severity: Literal["info", "warning", "critical"] = Field(
        default="warning", description="severity of the alert"
    )

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        if value not in METRICS:
            raise ValueError(f"unknown metric {value!r} (known: {', '.join(METRICS)})")
        return value


def evaluate_thresholds(ctx: Context, configured: Sequence[ThresholdRule]) -> list[Candidate]:
    """Every configured threshold breached in the evaluated hour, per scope."""
    rules = [Threshold(**rule.model_dump()) for rule in configured]
    if not rules:
        return []
    current = ctx.shared.current
    for index, rule in enumerate(rules):
        problem = unknown_metric(rule, current)
        if problem is not None:
            raise ThresholdError(f"rules.thresholds.{index} ({rule.name}): {problem}")
    in_promo = bool(current["shop"].get_column("in_promo").any())
    found = threshold_breaches(rules, current, in_promo=in_promo)
    return [_candidate(row, locale=ctx.locale) for row in found.to_dicts()]


def _candidate(row: Row, *, locale: str = "en") -> Candidate:
    """A user threshold rule breached in one scope."""
    labels = {}
    if row["source"]:
        labels["source"] = str(row["source"])
    if row["sku_id"]:
        labels["sku_id"] = str(row["sku_id"])
    scope = ", ".join(f"{k} {v}" for k, v in labels.items()) or (
        "全店" if is_zh(locale) else "shop"
    )
    value = num(row["value"])
    if is_zh(locale):
        summary = (
            f"{row['name']}：{scope} {row['metric']} = {value}（{row['op']} {row['threshold']:g}）"
        )
    else:
        summary = (
            f"{row['name']}: {row['metric']} {value} in {scope} ({row['op']} {row['threshold']:g})"
        )
    annotations = {
        "summary": summary,
        "description": "",
        "value": value,
        "baseline": "",
        "threshold": num(row["threshold"]),
        "metric": str(row["metric"]),
        "root_cause": "",
    }
    return Candidate(
        str(row["name"]),
        str(row["severity"]),
        labels,
        annotations,
        for_hours=int(row["for_hours"]),
    )
