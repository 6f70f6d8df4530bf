"""cancel_spike (DESIGN.md §6): cancellations well above their usual rate during a promotion.

The rate compared is "of the order lines created in the last `window_hours` hours, the
share already cancelled at the end of the evaluated hour". Cancellations arrive minutes to
hours after creation (unpaid orders close after 30 minutes), so the baseline is the same
quantity measured the same way: for each of the previous `baseline_days` days, the lines
created in the same local hours, cancelled by the same local time of that day. Like is
compared with like, and nothing cancelled after the evaluated hour is ever counted.

The data: one row per order line with `created_at`, `status` and `updated_at`, as core
holds them (the latest version). A line whose latest version is later than the instant
being measured was not cancelled then: a cancelled line is never reopened.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from transforms.stats import moment_rho, upper_tail

__all__ = [
    "CANCEL_CANDIDATE_SCHEMA",
    "cancel_replicas",
    "cancel_spike",
    "local_days_back",
]

TS = pl.Datetime("us", "UTC")

CANCEL_CANDIDATE_SCHEMA: dict[str, pl.DataType] = {
    "hour": TS,
    "lines": pl.Int64(),
    "cancelled": pl.Int64(),
    "cancel_rate": pl.Float64(),
    "baseline_rate": pl.Float64(),
    "baseline_days": pl.Int64(),
    "ratio": pl.Float64(),
    "p_value": pl.Float64(),
    "top_promo_id": pl.String(),
    "top_promo_rate": pl.Float64(),
    "top_promo_lines": pl.Int64(),
    "top_promo_cancelled": pl.Int64(),
}


def local_days_back(instant: datetime, days: int, tz: str) -> datetime:
    """The instant with the same local wall-clock time `days` days earlier (DST safe)."""
    zone = ZoneInfo(tz)
    wall = instant.astimezone(zone).replace(tzinfo=None) - timedelta(days=days)
    return wall.replace(tzinfo=zone).astimezone(UTC)


def cancel_replicas(
    lines: pl.DataFrame,
    hour: datetime,
    tz: str,
    *,
    baseline_days: int = 14,
    window_hours: int = 1,
    gaps: pl.Series | None = None,
) -> pl.DataFrame:
    """Per day back k (0 = the evaluated hour's day): lines created in the `window_hours`
    hours ending at the end of `hour` (shifted k local days) and how many of them were
    cancelled by that instant, overall and per promotion. A day whose window holds one of
    the `gaps` hours (orders or traffic missing) is left out."""
    end = hour.astimezone(UTC) + timedelta(hours=1)
    spans = pl.DataFrame(
        {
            "k": list(range(baseline_days + 1)),
            "as_of": [local_days_back(end, k, tz) for k in range(baseline_days + 1)],
        },
        schema={"k": pl.Int64(), "as_of": TS},
    ).with_columns(start=pl.col("as_of") - pl.duration(hours=window_hours))
    if gaps is not None and gaps.len():
        hit = spans.join_where(
            pl.DataFrame({"gap": gaps.cast(TS)}),
            pl.col("gap") >= pl.col("start"),
            pl.col("gap") < pl.col("as_of"),
        )
        spans = spans.join(hit.select("k").unique(), on="k", how="anti")
    joined = (
        lines.select("created_at", "status", "updated_at", "promo_id")
        .join_where(
            spans,
            pl.col("created_at") >= pl.col("start"),
            pl.col("created_at") < pl.col("as_of"),
        )
        .with_columns(
            gone=(pl.col("status") == "cancelled") & (pl.col("updated_at") < pl.col("as_of"))
        )
    )
    return joined.group_by("k", "promo_id").agg(
        lines=pl.len().cast(pl.Int64), cancelled=pl.col("gone").sum().cast(pl.Int64)
    )


def cancel_spike(
    replicas: pl.DataFrame,
    hour: datetime,
    *,
    in_promo: bool,
    min_ratio: float = 2.0,
    min_lines: int = 30,
    alpha: float = 0.001,
) -> pl.DataFrame:
    """A one-row frame when a running promotion's order lines are cancelled far more than
    the shop's lines usually are at this hour, else empty.

    Per promotion with lines in the hour: at least `min_lines` lines, a cancel rate at least
    `min_ratio` times the baseline (all lines, the same hour on earlier days), and an upper
    beta-binomial tail under `alpha` (split over the promotions tested); the most
    significant is reported, with the shop-wide rate. Baseline days that were themselves
    spikes (over `min_ratio` times the median day) are left out. Lines of no promotion
    never make a spike: a handful of early-morning cancellations is noise, not a promotion
    that makes buyers cancel.
    """
    empty = pl.DataFrame(schema=CANCEL_CANDIDATE_SCHEMA)
    if not in_promo or replicas.is_empty():
        return empty
    days = replicas.group_by("k").agg(pl.col("lines").sum(), pl.col("cancelled").sum())
    now = days.filter(pl.col("k") == 0)
    past = days.filter((pl.col("k") > 0) & (pl.col("lines") > 0)).with_columns(
        rate=pl.col("cancelled") / pl.col("lines")
    )
    if now.is_empty() or past.height < 3:
        return empty
    median = past.get_column("rate").median()
    assert isinstance(median, float)
    usual = past.filter(pl.col("rate") <= max(median * min_ratio, 1e-9))
    base_lines = int(usual.get_column("lines").sum())
    # no cancellation at all in the baseline: count half a one, so a rate can be compared
    base = max(int(usual.get_column("cancelled").sum()), 0.5) / base_lines if base_lines else 0.0
    promos = replicas.filter(
        (pl.col("k") == 0) & pl.col("promo_id").is_not_null() & (pl.col("lines") >= min_lines)
    )
    if promos.is_empty() or base <= 0:
        return empty
    rho = moment_rho(
        usual.get_column("cancelled").to_numpy(),
        usual.get_column("lines").to_numpy(),
        base,
        usual.height,
    )
    tails = upper_tail(
        promos.get_column("cancelled").to_numpy(), promos.get_column("lines").to_numpy(), base, rho
    )
    hits = (
        promos.with_columns(
            rate=pl.col("cancelled") / pl.col("lines"), p_value=pl.Series(tails, dtype=pl.Float64)
        )
        .filter((pl.col("rate") >= min_ratio * base) & (pl.col("p_value") < alpha / promos.height))
        .sort("p_value", "promo_id")
    )
    if hits.is_empty():
        return empty
    top = hits.row(0, named=True)
    n, x = now.row(0, named=True)["lines"], now.row(0, named=True)["cancelled"]
    return pl.DataFrame(
        [
            {
                "hour": hour.astimezone(UTC),
                "lines": n,
                "cancelled": x,
                "cancel_rate": x / n,
                "baseline_rate": base,
                "baseline_days": usual.height,
                "ratio": top["rate"] / base,
                "p_value": top["p_value"],
                "top_promo_id": top["promo_id"],
                "top_promo_rate": top["rate"],
                "top_promo_lines": top["lines"],
                "top_promo_cancelled": top["cancelled"],
            }
        ],
        schema=CANCEL_CANDIDATE_SCHEMA,
    )
