"""User threshold rules (`rules.thresholds`): a metric compared with a value.

Each rule names a metric of the shop (`mart.kpi_hourly` columns), of each traffic source
(`mart.kpi_hourly_by_source`) or of each SKU (`mart.sku_hourly`), an operator and a value;
`during_promo` limits it to hours in (True) or out of (False) a promotion, `min_visitors`
skips scopes with too little traffic to judge. `for_hours` is the lifecycle's pending
period, carried through to the alert.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import polars as pl

from transforms.kpis import KPI_HOURLY_SCHEMA

__all__ = [
    "METRICS",
    "OPERATORS",
    "THRESHOLD_CANDIDATE_SCHEMA",
    "Threshold",
    "threshold_breaches",
    "unknown_metric",
]

OPERATORS: dict[str, Callable[[pl.Expr, float], pl.Expr]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
SCOPE_KEYS = {"shop": None, "source": "source", "sku": "sku_id"}
# what a threshold can watch: the hourly measures, the same for shop, source and SKU scopes
METRICS = tuple(sorted(c for c, t in KPI_HOURLY_SCHEMA.items() if t.is_numeric()))

THRESHOLD_CANDIDATE_SCHEMA: dict[str, pl.DataType] = {
    "name": pl.String(),
    "metric": pl.String(),
    "op": pl.String(),
    "threshold": pl.Float64(),
    "scope": pl.String(),
    "source": pl.String(),
    "sku_id": pl.String(),
    "value": pl.Float64(),
    "visitors": pl.Int64(),
    "severity": pl.String(),
    "for_hours": pl.Int64(),
}


@dataclass(frozen=True)
class Threshold:
    """One configured threshold rule (the fields of `rules.thresholds` items)."""

    name: str
    metric: str
    op: str
    value: float
    scope: str = "shop"
    during_promo: bool | None = None
    min_visitors: int = 0
    for_hours: int = 1
    severity: str = "warning"


def unknown_metric(rule: Threshold, frames: dict[str, pl.DataFrame]) -> str | None:
    """Why the rule cannot be evaluated on these frames (unknown scope or metric), or None."""
    frame = frames.get(rule.scope)
    if frame is None:
        return f"unknown scope {rule.scope!r}"
    if rule.metric not in frame.columns or not frame.schema[rule.metric].is_numeric():
        numeric = sorted(c for c, t in frame.schema.items() if t.is_numeric())
        return (
            f"metric {rule.metric!r} is not a numeric column of scope {rule.scope}"
            f" (known: {', '.join(numeric)})"
        )
    if rule.op not in OPERATORS:
        return f"unknown operator {rule.op!r}"
    return None


def threshold_breaches(
    rules: Sequence[Threshold], frames: dict[str, pl.DataFrame], *, in_promo: bool
) -> pl.DataFrame:
    """Every (rule, scope) whose metric breaches its threshold in the evaluated hour.

    `frames`: the evaluated hour's rows per scope (`shop`, `source`, `sku`), each with a
    `visitors` column; a null metric (e.g. a rate with no visitors) never breaches.
    """
    parts = []
    for rule in rules:
        problem = unknown_metric(rule, frames)
        if problem is not None:
            raise ValueError(f"threshold rule {rule.name}: {problem}")
        if rule.during_promo is not None and rule.during_promo != in_promo:
            continue
        frame = frames[rule.scope]
        key = SCOPE_KEYS[rule.scope]
        compare = OPERATORS[rule.op]
        hits = frame.filter(
            compare(pl.col(rule.metric), rule.value).fill_null(False)
            & (pl.col("visitors") >= rule.min_visitors)
        )
        parts.append(
            hits.select(
                name=pl.lit(rule.name),
                metric=pl.lit(rule.metric),
                op=pl.lit(rule.op),
                threshold=pl.lit(rule.value, dtype=pl.Float64),
                scope=pl.lit(rule.scope),
                source=pl.col("source") if key == "source" else pl.lit(None, dtype=pl.String),
                sku_id=pl.col("sku_id") if key == "sku_id" else pl.lit(None, dtype=pl.String),
                value=pl.col(rule.metric).cast(pl.Float64),
                visitors=pl.col("visitors").cast(pl.Int64),
                severity=pl.lit(rule.severity),
                for_hours=pl.lit(rule.for_hours, dtype=pl.Int64),
            )
        )
    if not parts:
        return pl.DataFrame(schema=THRESHOLD_CANDIDATE_SCHEMA)
    schema = THRESHOLD_CANDIDATE_SCHEMA
    return pl.concat([p.select([pl.col(c).cast(t) for c, t in schema.items()]) for p in parts])
