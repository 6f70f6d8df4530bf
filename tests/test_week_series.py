"""The week chart's series: an incomplete day is not drawn, nor compared with a week later."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from transforms.digest import daily_series

START = date(2026, 11, 2)


def daily(incomplete: set[date]) -> pl.DataFrame:
    days = [START - timedelta(days=7) + timedelta(days=i) for i in range(14)]
    return pl.DataFrame(
        {
            "day": days,
            "gmv": [100.0 + i for i in range(14)],
            "complete": [d not in incomplete for d in days],
        }
    )


def test_an_incomplete_day_is_missing_and_so_is_its_comparison_a_week_later() -> None:
    gap = START - timedelta(days=5)  # a day of the week before, half loaded
    series = daily_series(daily({gap, START + timedelta(days=3)}), START)
    by_day = {r["day"]: r for r in series.to_dicts()}
    assert by_day[gap + timedelta(days=7)]["gmv_last_week"] is None
    assert by_day[START + timedelta(days=3)]["gmv"] is None
    assert by_day[START]["gmv"] == 107.0 and by_day[START]["gmv_last_week"] == 100.0
    assert series.height == 7


def test_the_day_in_progress_is_drawn_as_it_stands() -> None:
    today = START + timedelta(days=6)
    series = daily_series(daily({today}), START, in_progress=today)
    assert series.filter(pl.col("day") == today)["gmv"].to_list() == [113.0]
    assert daily_series(daily({today}), START).filter(pl.col("day") == today)["gmv"].to_list() == [
        None
    ]
