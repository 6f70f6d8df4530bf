"""Search keyword performance per shop-local day (mart.keyword_daily)."""

from __future__ import annotations

import polars as pl

from transforms.kpis import money_sum, ratio
from transforms.time import local_day_start

__all__ = ["KEYWORD_DAILY_SCHEMA", "keyword_daily"]

KEYWORD_DAILY_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date(),
    "keyword": pl.String(),
    "impressions": pl.Int64(),
    "clicks": pl.Int64(),
    "click_rate": pl.Float64(),
    "visitors": pl.Int64(),
    "buyers": pl.Int64(),
    "conversion_rate": pl.Float64(),
    "gmv": pl.Float64(),
}


def keyword_daily(keywords: pl.DataFrame, days: pl.Series, tz: str) -> pl.DataFrame:
    """Each keyword's day: hourly export counts summed over the shop-local date, rates recomputed.

    The export already aggregates buyers per hour, so a buyer who came back through the same
    keyword in two hours counts twice: the source has no buyer ids to deduplicate.
    """
    wanted = pl.DataFrame({"day": days.cast(pl.Date)}).unique()
    daily = (
        keywords.with_columns(day=local_day_start(pl.col("hour"), tz))
        .join(wanted, on="day", how="semi")
        .group_by("day", "keyword")
        .agg(
            impressions=pl.col("impressions").sum().cast(pl.Int64),
            clicks=pl.col("clicks").sum().cast(pl.Int64),
            visitors=pl.col("visitors").sum().cast(pl.Int64),
            buyers=pl.col("buyers").sum().cast(pl.Int64),
            gmv=money_sum("pay_amount"),
        )
        .with_columns(
            click_rate=ratio("clicks", "impressions"),
            conversion_rate=ratio("buyers", "visitors"),
        )
    )
    return daily.select(
        [pl.col(name).cast(dtype) for name, dtype in KEYWORD_DAILY_SCHEMA.items()]
    ).sort("day", "keyword")
