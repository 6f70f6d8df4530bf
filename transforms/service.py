"""The rest of the seller's day as marts: service response, reviews, shipping and returns."""

from __future__ import annotations

import polars as pl

from transforms.kpis import ratio
from transforms.time import local_day_start, local_hour_start

__all__ = [
    "ANSWER_SECONDS",
    "RETURNS_DAILY_SCHEMA",
    "REVIEW_DAILY_SCHEMA",
    "SERVICE_HOURLY_SCHEMA",
    "SHIPPING_DAILY_SCHEMA",
    "first_response_seconds",
    "returns_daily",
    "review_daily",
    "service_hourly",
    "shipping_daily",
]

# the ops teams' rule: every enquiry answered within 30 seconds
ANSWER_SECONDS = 30
NEGATIVE_RATING = 2

SERVICE_HOURLY_SCHEMA: dict[str, pl.DataType] = {
    "hour": pl.Datetime("us", "UTC"),
    "chats": pl.Int64(),
    "answered": pl.Int64(),
    "answered_30s": pl.Int64(),
    "answered_30s_share": pl.Float64(),
    "unanswered": pl.Int64(),
    "bot_chats": pl.Int64(),
    "agent_chats": pl.Int64(),
    "bot_median_seconds": pl.Float64(),
    "bot_p90_seconds": pl.Float64(),
    "agent_median_seconds": pl.Float64(),
    "agent_p90_seconds": pl.Float64(),
}

REVIEW_DAILY_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date(),
    "reviews": pl.Int64(),
    "rating_1": pl.Int64(),
    "rating_2": pl.Int64(),
    "rating_3": pl.Int64(),
    "rating_4": pl.Int64(),
    "rating_5": pl.Int64(),
    "negative": pl.Int64(),
    "negative_share": pl.Float64(),
    "avg_rating": pl.Float64(),
    "replied": pl.Int64(),
    "median_reply_hours": pl.Float64(),
}

SHIPPING_DAILY_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date(),
    "due": pl.Int64(),
    "shipped_on_time": pl.Int64(),
    "shipped_late": pl.Int64(),
    "unshipped": pl.Int64(),
    "on_time_rate": pl.Float64(),
    "returns": pl.Int64(),
}

RETURNS_DAILY_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date(),
    "reason": pl.String(),
    "returns": pl.Int64(),
}


def _cast(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return frame.select([pl.col(name).cast(dtype) for name, dtype in schema.items()])


def first_response_seconds() -> pl.Expr:
    """Seconds from a chat's start to its first response (null when unanswered)."""
    return (pl.col("first_response_at") - pl.col("started_at")).dt.total_milliseconds() / 1000


def service_hourly(chats: pl.DataFrame, hours: pl.Series, tz: str) -> pl.DataFrame:
    """Chats per shop-local hour they started in: answered within 30 s, first-response
    median and 90th percentile for the bot and for agents apart, unanswered."""
    wait = pl.col("wait")
    bot = pl.col("responder") == "bot"
    agent = pl.col("responder").is_not_null() & ~bot
    hourly = (
        chats.with_columns(
            hour=local_hour_start(pl.col("started_at"), tz), wait=first_response_seconds()
        )
        .join(pl.DataFrame({"hour": hours.cast(pl.Datetime("us", "UTC"))}), on="hour", how="semi")
        .group_by("hour")
        .agg(
            chats=pl.len(),
            answered=wait.is_not_null().sum(),
            answered_30s=(wait <= ANSWER_SECONDS).sum(),
            bot_chats=bot.sum(),
            agent_chats=agent.sum(),
            bot_median_seconds=wait.filter(bot).median(),
            bot_p90_seconds=wait.filter(bot).quantile(0.9, "linear"),
            agent_median_seconds=wait.filter(agent).median(),
            agent_p90_seconds=wait.filter(agent).quantile(0.9, "linear"),
        )
        .with_columns(
            unanswered=pl.col("chats") - pl.col("answered"),
            answered_30s_share=ratio("answered_30s", "chats"),
        )
    )
    return _cast(hourly, SERVICE_HOURLY_SCHEMA).sort("hour")


def review_daily(reviews: pl.DataFrame, days: pl.Series, tz: str) -> pl.DataFrame:
    """New reviews per shop-local day: by rating, the negative (1-2 star) share, the average
    rating (the shop rating trend) and the median time to the shop's reply."""
    rating = pl.col("rating")
    reply_hours = (pl.col("replied_at") - pl.col("created_at")).dt.total_seconds() / 3600
    daily = (
        reviews.with_columns(day=local_day_start(pl.col("created_at"), tz))
        .join(pl.DataFrame({"day": days.cast(pl.Date)}).unique(), on="day", how="semi")
        .group_by("day")
        .agg(
            reviews=pl.len(),
            **{f"rating_{r}": (rating == r).sum() for r in range(1, 6)},
            negative=(rating <= NEGATIVE_RATING).sum(),
            avg_rating=rating.mean(),
            replied=pl.col("replied_at").is_not_null().sum(),
            median_reply_hours=reply_hours.median(),
        )
        .with_columns(negative_share=ratio("negative", "reviews"))
    )
    return _cast(daily, REVIEW_DAILY_SCHEMA).sort("day")


def shipping_daily(shipments: pl.DataFrame, days: pl.Series, tz: str) -> pl.DataFrame:
    """Orders due to ship per shop-local day (by promised ship-by): shipped on time, late,
    not yet shipped, the on-time rate, and the returns received that day."""
    wanted = pl.DataFrame({"day": days.cast(pl.Date)}).unique()
    promised = pl.col("promised_ship_by")
    shipped = pl.col("shipped_at")
    due = (
        shipments.with_columns(day=local_day_start(promised, tz))
        .join(wanted, on="day", how="semi")
        .group_by("day")
        .agg(
            due=pl.len(),
            shipped_on_time=(shipped <= promised).sum(),
            shipped_late=(shipped > promised).sum(),
            unshipped=shipped.is_null().sum(),
        )
    )
    returns = (
        shipments.filter(pl.col("returned_at").is_not_null())
        .with_columns(day=local_day_start(pl.col("returned_at"), tz))
        .join(wanted, on="day", how="semi")
        .group_by("day")
        .agg(returns=pl.len())
    )
    daily = (
        wanted.join(due, on="day", how="left")
        .join(returns, on="day", how="left")
        .with_columns(pl.exclude("day").fill_null(0))
        .filter((pl.col("due") > 0) | (pl.col("returns") > 0))
        .with_columns(on_time_rate=ratio("shipped_on_time", "due"))
    )
    return _cast(daily, SHIPPING_DAILY_SCHEMA).sort("day")


def returns_daily(shipments: pl.DataFrame, days: pl.Series, tz: str) -> pl.DataFrame:
    """Returns received per shop-local day and reason (e.g. wrong_address)."""
    daily = (
        shipments.filter(pl.col("returned_at").is_not_null())
        .with_columns(
            day=local_day_start(pl.col("returned_at"), tz),
            reason=pl.col("return_reason").fill_null("unknown"),
        )
        .join(pl.DataFrame({"day": days.cast(pl.Date)}).unique(), on="day", how="semi")
        .group_by("day", "reason")
        .agg(returns=pl.len())
    )
    return _cast(daily, RETURNS_DAILY_SCHEMA).sort("day", "reason")
