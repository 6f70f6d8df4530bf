"""Keyword daily performance against literal hourly rows worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
from polars.testing import assert_frame_equal

from transforms import KEYWORD_DAILY_SCHEMA, keyword_daily

TS = pl.Datetime("us", "UTC")


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_keyword_daily() -> None:
    keywords = pl.DataFrame(
        [
            (t("2026-11-11T00:00+08:00"), "收纳盒", 1000, 50, 40, 2, 100.0),
            (t("2026-11-11T23:00+08:00"), "收纳盒", 500, 25, 20, 1, 50.5),
            (t("2026-11-11T10:00+08:00"), "扳手", 0, 0, 0, 0, 0.0),
            # 2026-11-10 23:00 local: the day before, not requested
            (t("2026-11-10T23:00+08:00"), "收纳盒", 9000, 900, 900, 90, 9000.0),
        ],
        schema={
            "hour": TS,
            "keyword": pl.String,
            "impressions": pl.Int64,
            "clicks": pl.Int64,
            "visitors": pl.Int64,
            "buyers": pl.Int64,
            "pay_amount": pl.Float64,
        },
        orient="row",
    )
    result = keyword_daily(keywords, pl.Series([date(2026, 11, 11)]), "Asia/Shanghai")
    day = date(2026, 11, 11)
    want = pl.DataFrame(
        [
            (day, "扳手", 0, 0, None, 0, 0, None, 0.0),
            (day, "收纳盒", 1500, 75, 0.05, 60, 3, 0.05, 150.5),
        ],
        schema=KEYWORD_DAILY_SCHEMA,
        orient="row",
    )
    assert_frame_equal(result, want)
