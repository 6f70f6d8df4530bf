"""The daily and weekly reviews' figures: comparisons, movers, segment moves, promotion effects.

Every function takes frames read from the marts and returns a frame; the caller (flows/digest)
says which days and hours to read. A comparison whose history is missing comes out null, never
as a comparison against zero.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl

__all__ = [
    "DAILY_METRICS",
    "RATE_METRICS",
    "daily_series",
    "day_comparison",
    "movers",
    "promotion_effects",
    "segment_moves",
    "totals",
    "with_ratios",
]

# what the daily digest compares, in the order it shows them
DAILY_METRICS = (
    "gmv",
    "visitors",
    "buyers",
    "conversion_rate",
    "aov",
    "bounce_rate",
    "add_to_cart",
    "favorites",
    "cancel_rate",
)
RATE_METRICS = frozenset({"conversion_rate", "bounce_rate", "cancel_rate"})
MEDIAN_WEEKS = 4

_COUNTS = ("visitors", "buyers", "gmv")


def _relative(now: pl.Expr, base: pl.Expr) -> pl.Expr:
    return pl.when(base.is_not_null() & (base != 0) & now.is_not_null()).then(now / base - 1)


def day_comparison(daily: pl.DataFrame, day: date, first_day: date | None) -> pl.DataFrame:
    """Per metric of DAILY_METRICS: the day's value, the same weekday a week earlier and the
    median of the same weekday over the 4 weeks before, with relative changes.

    `daily` holds mart.kpi_daily rows; `first_day` is the first fully loaded local day. A
    comparison reaching before it is null (not enough history), as is every value of a day
    with no row; an earlier day marked incomplete (`complete` false) is not compared with.
    """
    rows = {r["day"]: r for r in daily.to_dicts()}

    def value(d: date, metric: str) -> float | None:
        if first_day is None or d < first_day or d not in rows:
            return None
        if d != day and rows[d].get("complete") is False:
            return None
        v = rows[d][metric]
        return None if v is None else float(v)

    out = []
    for metric in DAILY_METRICS:
        weeks = [day - timedelta(days=7 * k) for k in range(1, MEDIAN_WEEKS + 1)]
        earlier = [value(d, metric) for d in weeks]
        usable = [v for v in earlier if v is not None]
        out.append(
            {
                "metric": metric,
                "value": value(day, metric),
                "last_week": earlier[0],
                # a median of fewer weeks than asked for is not the 4-week median
                "median_4w": (
                    float(pl.Series(usable).median())  # type: ignore[arg-type]
                    if len(usable) == MEDIAN_WEEKS
                    else None
                ),
            }
        )
    frame = pl.DataFrame(
        out,
        schema={
            "metric": pl.String(),
            "value": pl.Float64(),
            "last_week": pl.Float64(),
            "median_4w": pl.Float64(),
        },
    )
    return frame.with_columns(
        vs_last_week=_relative(pl.col("value"), pl.col("last_week")),
        vs_median_4w=_relative(pl.col("value"), pl.col("median_4w")),
    )


def totals(frame: pl.DataFrame, key: str | None = None) -> pl.DataFrame:
    """Sums of every numeric count column (per `key` when given) over the frame's rows."""
    numeric = [
        c
        for c, t in frame.schema.items()
        if c != key and t.is_numeric() and not c.endswith(("_rate", "aov"))
    ]
    sums = [pl.col(c).sum() for c in numeric]
    if key is None:
        return frame.select(sums)
    return frame.group_by(key).agg(sums).sort(key)


def with_ratios(frame: pl.DataFrame) -> pl.DataFrame:
    """Conversion (buyers / visitors) and AOV (gmv / buyers) from summed base counts."""
    return frame.with_columns(
        conversion_rate=pl.when(pl.col("visitors") > 0).then(pl.col("buyers") / pl.col("visitors")),
        aov=pl.when(pl.col("buyers") > 0).then(pl.col("gmv") / pl.col("buyers")),
    )


def movers(now: pl.DataFrame, before: pl.DataFrame, key: str, n: int = 5) -> pl.DataFrame:
    """The `n` keys whose GMV changed most (either way) between two periods of equal length.

    Inputs: rows with `key`, `visitors`, `buyers`, `gmv` (summed per key here); a key missing
    from a period is zero there. Columns: key, gmv, gmv_before, gmv_change, gmv_change_pct
    (null when it had no GMV before), visitors, visitors_before, buyers, buyers_before.
    """
    a = totals(now.select(key, *_COUNTS), key)
    b = totals(before.select(key, *_COUNTS), key)
    joined = a.join(b, on=key, how="full", suffix="_before", coalesce=True).with_columns(
        pl.col(c).fill_null(0) for c in (*_COUNTS, *(f"{c}_before" for c in _COUNTS))
    )
    return (
        joined.with_columns(
            gmv_change=pl.col("gmv") - pl.col("gmv_before"),
            gmv_change_pct=_relative(pl.col("gmv"), pl.col("gmv_before")),
        )
        .filter(pl.col("gmv_change") != 0)
        .sort(pl.col("gmv_change").abs(), key, descending=[True, False])
        .head(n)
        .select(
            pl.col(key).cast(pl.String).alias("key"),
            "gmv",
            "gmv_before",
            "gmv_change",
            "gmv_change_pct",
            "visitors",
            "visitors_before",
            "buyers",
            "buyers_before",
        )
    )


def daily_series(
    daily: pl.DataFrame, start: date, days: int = 7, *, in_progress: date | None = None
) -> pl.DataFrame:
    """GMV of each of `days` local days from `start`, beside the same weekday a week earlier:
    the week chart's data. Null where the warehouse has no such day, or only an incomplete
    one (`complete` false: not every hour was extracted), except `in_progress`, today's day
    drawn as it stands."""
    kept = daily
    if "complete" in daily.columns:
        today = pl.lit(False) if in_progress is None else pl.col("day") == in_progress
        kept = daily.filter(pl.col("complete").fill_null(True) | today)
    gmv = {r["day"]: float(r["gmv"]) for r in kept.select("day", "gmv").to_dicts()}
    rows = []
    for i in range(days):
        d = start + timedelta(days=i)
        rows.append({"day": d, "gmv": gmv.get(d), "gmv_last_week": gmv.get(d - timedelta(days=7))})
    return pl.DataFrame(
        rows, schema={"day": pl.Date(), "gmv": pl.Float64(), "gmv_last_week": pl.Float64()}
    )


def segment_moves(before: pl.DataFrame, after: pl.DataFrame) -> pl.DataFrame:
    """Buyers per (from_segment, to_segment) between two RFM snapshots (buyer_id, segment);
    a buyer in one snapshot only has a null segment in the other."""
    joined = before.select("buyer_id", from_segment="segment").join(
        after.select("buyer_id", to_segment="segment"), on="buyer_id", how="full", coalesce=True
    )
    return (
        joined.group_by("from_segment", "to_segment")
        .agg(buyers=pl.len().cast(pl.Int64))
        .sort("from_segment", "to_segment", nulls_last=True)
    )


def promotion_effects(
    promotions: pl.DataFrame,
    hourly: pl.DataFrame,
    start: datetime,
    end: datetime,
    first_hour: datetime | None,
    tz: str,
) -> pl.DataFrame:
    """Per promotion running in [start, end): GMV and cancellations in its hours of that span,
    and the same local hours one week earlier (null when the warehouse does not reach back).

    `promotions`: promo_id, name, kind, starts_at, ends_at. `hourly`: mart.kpi_hourly rows
    (hour, gmv, paid_orders, created_lines, cancelled_orders) covering both weeks.
    """
    schema = {
        "promo_id": pl.String(),
        "name": pl.String(),
        "kind": pl.String(),
        "starts_at": pl.Datetime("us", "UTC"),
        "ends_at": pl.Datetime("us", "UTC"),
        "hours": pl.Int64(),
        "gmv": pl.Float64(),
        "gmv_last_week": pl.Float64(),
        "uplift": pl.Float64(),
        "paid_orders": pl.Int64(),
        "cancelled_orders": pl.Int64(),
        "cancel_rate": pl.Float64(),
        "cancel_rate_last_week": pl.Float64(),
    }
    measures = hourly.select("hour", "gmv", "paid_orders", "created_lines", "cancelled_orders")
    earlier = measures.with_columns(
        pl.col("hour")
        .dt.convert_time_zone(tz)
        .dt.offset_by("7d")
        .dt.convert_time_zone("UTC")
        .dt.cast_time_unit("us")
    ).rename({c: f"{c}_lw" for c in measures.columns if c != "hour"})
    paired = measures.join(earlier, on="hour", how="left")
    rows = []
    for p in promotions.sort("starts_at", "promo_id").to_dicts():
        lo, hi = max(p["starts_at"], start), min(p["ends_at"], end)
        if lo >= hi:
            continue
        # an hour counts when the promotion runs in any part of it
        span = paired.filter((pl.col("hour") < hi) & (pl.col("hour") + timedelta(hours=1) > lo))
        # the week before counts only where the warehouse reaches back that far
        week_before = (lo.astimezone(ZoneInfo(tz)) - timedelta(days=7)).astimezone(UTC)
        reaches_back = first_hour is not None and first_hour <= week_before
        span = span.fill_null(0)
        created = int(span["created_lines"].sum())
        created_lw = int(span["created_lines_lw"].sum()) if reaches_back else 0
        gmv_lw = float(span["gmv_lw"].sum()) if reaches_back else None
        gmv = float(span["gmv"].sum())
        rows.append(
            {
                "promo_id": p["promo_id"],
                "name": p["name"],
                "kind": p["kind"],
                "starts_at": p["starts_at"],
                "ends_at": p["ends_at"],
                "hours": span.height,
                "gmv": gmv,
                "gmv_last_week": gmv_lw,
                "uplift": None if gmv_lw is None else gmv - gmv_lw,
                "paid_orders": int(span["paid_orders"].sum()),
                "cancelled_orders": int(span["cancelled_orders"].sum()),
                "cancel_rate": int(span["cancelled_orders"].sum()) / created if created else None,
                "cancel_rate_last_week": (
                    int(span["cancelled_orders_lw"].sum()) / created_lw
                    if reaches_back and created_lw
                    else None
                ),
            }
        )
    return pl.DataFrame(rows, schema=schema)
