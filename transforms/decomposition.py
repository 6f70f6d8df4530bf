"""Splitting a GMV change exactly into traffic, conversion and order-value effects.

GMV = visitors × conversion × AOV, with conversion = buyers / visitors and AOV = gmv / buyers.
The log-mean Divisia index (LMDI-I) gives each factor the part
`L(gmv₀, gmv₁) · ln(factor₁ / factor₀)`, where `L(a, b) = (b − a) / ln(b / a)` is the
logarithmic mean; the three parts add up to `gmv₁ − gmv₀` with no residual.

A period with no buyers has no AOV and a period with no visitors no conversion; the parts are
then their limits as the missing factor goes to zero: the whole change goes to the factor that
vanished (conversion when buyers went to or came from zero, traffic when visitors did).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl

__all__ = [
    "DECOMPOSITION_SCHEMA",
    "EFFECTS",
    "Split",
    "decompose",
    "decompose_frame",
    "log_mean",
    "weakest_link",
]

EFFECTS = ("traffic_effect", "conversion_effect", "aov_effect")

DECOMPOSITION_SCHEMA: dict[str, pl.DataType] = {
    "key": pl.String(),
    "visitors_before": pl.Int64(),
    "visitors_after": pl.Int64(),
    "buyers_before": pl.Int64(),
    "buyers_after": pl.Int64(),
    "gmv_before": pl.Float64(),
    "gmv_after": pl.Float64(),
    "gmv_change": pl.Float64(),
    "traffic_effect": pl.Float64(),
    "conversion_effect": pl.Float64(),
    "aov_effect": pl.Float64(),
}


@dataclass(frozen=True)
class Split:
    """A GMV change and its three parts; `gmv_change` equals their sum."""

    gmv_change: float
    traffic_effect: float
    conversion_effect: float
    aov_effect: float


def log_mean(a: float, b: float) -> float:
    """The logarithmic mean of two positive numbers, (b − a) / ln(b / a); a when a == b."""
    if a <= 0 or b <= 0:
        raise ValueError(f"log_mean needs positive numbers, got {a} and {b}")
    if a == b:
        return a
    ratio = b / a
    if abs(ratio - 1) < 0.5:
        # log1p stays accurate when the two are close
        return a * (ratio - 1) / math.log1p(ratio - 1)
    return (b - a) / (math.log(b) - math.log(a))


def decompose(
    visitors: tuple[float, float], buyers: tuple[float, float], gmv: tuple[float, float]
) -> Split:
    """Split gmv[1] − gmv[0] into traffic, conversion and AOV effects (LMDI-I, additive)."""
    (v0, v1), (b0, b1), (g0, g1) = visitors, buyers, gmv
    change = g1 - g0
    if min(v0, v1, b0, b1, g0, g1) < 0:
        raise ValueError("visitors, buyers and gmv cannot be negative")
    if v0 == 0 or v1 == 0:
        return Split(change, change, 0.0, 0.0)
    if b0 == 0 or b1 == 0 or g0 == 0 or g1 == 0:
        # buyers who paid nothing (all free items) count as no sale: conversion carries it
        return Split(change, 0.0, change, 0.0)
    ln_v = math.log(v1) - math.log(v0)
    ln_b = math.log(b1) - math.log(b0)
    ln_g = math.log(g1) - math.log(g0)
    weight = log_mean(g0, g1)
    traffic = weight * ln_v
    conversion = weight * (ln_b - ln_v)
    aov = weight * (ln_g - ln_b)
    return Split(change, traffic, conversion, aov)


def decompose_frame(before: pl.DataFrame, after: pl.DataFrame, key: str) -> pl.DataFrame:
    """Per value of `key`: both periods' totals and the split of the GMV change.

    `before`/`after` carry `key`, `visitors`, `buyers`, `gmv` (summed per key here, so hourly
    rows do); a key present in one period only counts as zero in the other. Rows ordered by
    the change, most negative first; columns as DECOMPOSITION_SCHEMA.
    """
    cols = ["visitors", "buyers", "gmv"]
    sums = [pl.col(c).sum() for c in cols]
    joined = (
        before.group_by(key)
        .agg(sums)
        .join(after.group_by(key).agg(sums), on=key, how="full", suffix="_after", coalesce=True)
        .rename({c: f"{c}_before" for c in cols})
        .with_columns(pl.col(f"{c}_{w}").fill_null(0) for c in cols for w in ("before", "after"))
        .sort(key)
    )
    rows = []
    for r in joined.iter_rows(named=True):
        split = decompose(
            (r["visitors_before"], r["visitors_after"]),
            (r["buyers_before"], r["buyers_after"]),
            (r["gmv_before"], r["gmv_after"]),
        )
        rows.append(
            {
                "key": str(r[key]),
                "visitors_before": int(r["visitors_before"]),
                "visitors_after": int(r["visitors_after"]),
                "buyers_before": int(r["buyers_before"]),
                "buyers_after": int(r["buyers_after"]),
                "gmv_before": float(r["gmv_before"]),
                "gmv_after": float(r["gmv_after"]),
                "gmv_change": split.gmv_change,
                "traffic_effect": split.traffic_effect,
                "conversion_effect": split.conversion_effect,
                "aov_effect": split.aov_effect,
            }
        )
    frame = pl.DataFrame(rows, schema=DECOMPOSITION_SCHEMA)
    return frame.sort("gmv_change", "key")


def weakest_link(split: pl.DataFrame) -> tuple[str, str, float] | None:
    """The (key, effect, amount) with the most negative effect; None when nothing fell."""
    if split.is_empty():
        return None
    long = split.unpivot(index="key", on=list(EFFECTS), variable_name="effect", value_name="amount")
    worst = long.sort("amount", "key", "effect").row(0, named=True)
    if worst["amount"] >= 0:
        return None
    return str(worst["key"]), str(worst["effect"]), float(worst["amount"])
