"""RFM buyer segments (mart.rfm_segments): recency, frequency, monetary over 365 days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from transforms.kpis import money_sum
from transforms.time import local_day_start

__all__ = [
    "RFM_BASE_SCHEMA",
    "RFM_DAYS",
    "RFM_SEGMENTS_SCHEMA",
    "SEGMENTS",
    "rfm_base",
    "rfm_segments",
]

TS = pl.Datetime("us", "UTC")
RFM_DAYS = 365

RFM_BASE_SCHEMA: dict[str, pl.DataType] = {
    "buyer_id": pl.String(),
    "last_paid_at": TS,
    "frequency": pl.Int64(),
    "monetary": pl.Float64(),
}

RFM_SEGMENTS_SCHEMA: dict[str, pl.DataType] = {
    "as_of": TS,
    "buyer_id": pl.String(),
    "recency_days": pl.Int64(),
    "frequency": pl.Int64(),
    "monetary": pl.Float64(),
    "r_score": pl.Int64(),
    "f_score": pl.Int64(),
    "m_score": pl.Int64(),
    "segment": pl.String(),
}

_R, _F, _M = pl.col("r_score"), pl.col("f_score"), pl.col("m_score")

# first match wins; scores are quintiles 1 (lowest) .. 5 (best)
SEGMENTS: tuple[tuple[str, pl.Expr], ...] = (
    ("high_value", (_R >= 4) & (_F >= 4) & (_M >= 4)),
    ("loyal", (_R >= 3) & (_F >= 4)),
    ("potential", _R >= 4),
    ("at_risk", (_R <= 2) & ((_F >= 4) | (_M >= 4))),
    ("churned", _R == 1),
    ("hibernating", _R == 2),
    ("need_attention", pl.lit(True)),
)


def rfm_base(orders: pl.DataFrame, as_of: datetime, *, days: int = RFM_DAYS) -> pl.DataFrame:
    """Per buyer: last payment, paid orders and amount over [as_of - days, as_of).

    Lines whose latest status is cancelled or refunded are not purchases and do not count.
    """
    as_of = as_of.astimezone(UTC)
    kept = orders.filter(
        pl.col("paid_at").is_not_null()
        & (pl.col("paid_at") >= as_of - timedelta(days=days))
        & (pl.col("paid_at") < as_of)
        & ~pl.col("status").is_in(["cancelled", "refunded"])
    )
    base = kept.group_by("buyer_id").agg(
        last_paid_at=pl.col("paid_at").max(),
        frequency=pl.col("order_id").n_unique(),
        monetary=money_sum("pay_amount"),
    )
    return base.select([pl.col(name).cast(dtype) for name, dtype in RFM_BASE_SCHEMA.items()]).sort(
        "buyer_id"
    )


def _quintile(expr: pl.Expr) -> pl.Expr:
    # 1 + floor(5 * (rank - 1) / n), rank ascending with ties at their lowest rank, so equal
    # values always share a score and the best 20% of distinct positions score 5
    rank = expr.rank("min").cast(pl.Int64)
    return (1 + (5 * (rank - 1)) // pl.len().cast(pl.Int64)).cast(pl.Int64)


def rfm_segments(base: pl.DataFrame, as_of: datetime, tz: str) -> pl.DataFrame:
    """Score each buyer of `base` (see rfm_base) in quintiles and name their segment.

    recency_days counts shop-local calendar days from the last payment to as_of.
    """
    as_of = as_of.astimezone(UTC)
    today = pl.lit(as_of, dtype=TS)
    scored = base.with_columns(
        as_of=today,
        recency_days=(local_day_start(today, tz) - local_day_start(pl.col("last_paid_at"), tz))
        .dt.total_days()
        .cast(pl.Int64),
    ).with_columns(
        r_score=_quintile(-pl.col("recency_days")),
        f_score=_quintile(pl.col("frequency")),
        m_score=_quintile(pl.col("monetary")),
    )
    segment = pl.coalesce([pl.when(rule).then(pl.lit(name)) for name, rule in SEGMENTS])
    return (
        scored.with_columns(segment=segment)
        .select([pl.col(name).cast(dtype) for name, dtype in RFM_SEGMENTS_SCHEMA.items()])
        .sort("buyer_id")
    )
