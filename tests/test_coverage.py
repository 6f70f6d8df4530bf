"""Data completeness: KPI hours know whether every dataset they need was extracted for them.

A short backfill of a shop with weeks of history loads order lines created long before its
window (orders are selected by `updated_at`); their hours must be marked incomplete and kept
out of every baseline, and an hour becomes complete once a window covers it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from flows.digest import daily_figures
from flows.pipeline import run_hour
from flows.rebuild import make_request, plain_backfill
from flows.report import empty_reason, kpi_baseline, run_summary
from flows.settings import Settings, parse_settings
from flows.warehouse import Warehouse, read_sql
from simulator import ShopSpec, Simulator
from simulator.server import SimulatorServer
from sources import make_source
from tests.backend import TOKEN, Backend, serve
from tests.factories import order, traffic
from transforms.coverage import complete_days, complete_hours, covered_hours

HOUR = timedelta(hours=1)
TS = pl.Datetime("us", "UTC")
SPEC = ShopSpec(skus=6, visitors_per_day=3000, days=16)
SIM_TOKEN = "coverage-token"


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def coverage(rows: list[tuple[str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        {"dataset": [d for d, _ in rows], "hour": [t(h) for _, h in rows]},
        schema={"dataset": pl.String, "hour": TS},
    )


# -- pure ------------------------------------------------------------------------------------


def test_a_window_covers_the_whole_hours_inside_it() -> None:
    since = t("2026-11-11T10:00+08:00")
    assert covered_hours(since, since + 3 * HOUR) == [since, since + HOUR, since + 2 * HOUR]
    assert covered_hours(since, since + HOUR / 2) == []


def test_an_hour_is_complete_only_when_every_needed_dataset_covered_it() -> None:
    cov = coverage(
        [
            ("orders", "2026-11-11T10:00+08:00"),
            ("traffic", "2026-11-11T10:00+08:00"),
            ("orders", "2026-11-11T11:00+08:00"),
            ("keywords", "2026-11-11T11:00+08:00"),
        ]
    )
    hours = pl.Series([t("2026-11-11T10:00+08:00"), t("2026-11-11T11:00+08:00")], dtype=TS)
    want = pl.DataFrame({"hour": hours, "complete": [True, False]})
    assert_frame_equal(complete_hours(cov, hours, ("orders", "traffic")), want)
    # a shop that pulls no traffic needs its orders only
    assert complete_hours(cov, hours, ("orders",)).get_column("complete").to_list() == [True, True]


@pytest.mark.parametrize(
    ("tz", "day", "hours"),
    [("Asia/Kolkata", date(2026, 11, 11), 24), ("America/New_York", date(2026, 11, 1), 25)],
)
def test_a_day_is_complete_when_each_of_its_local_hours_is(tz: str, day: date, hours: int) -> None:
    start = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz)).astimezone(UTC)
    every = [start + i * HOUR for i in range(hours)]
    rows = [(d, h.isoformat()) for h in every for d in ("orders", "traffic")]
    days = pl.Series([day])
    full = complete_days(coverage(rows), days, tz, ("orders", "traffic"))
    assert full.get_column("complete").to_list() == [True]
    short = complete_days(coverage(rows[:-1]), days, tz, ("orders", "traffic"))
    assert short.get_column("complete").to_list() == [False]


# -- a short backfill of a shop with weeks of history ----------------------------------------


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    with SimulatorServer(Simulator("normal", 0, SPEC), token=SIM_TOKEN) as server:
        yield server.base_url


def settings_for(base_url: str, path: Path, token: str = SIM_TOKEN, **source: Any) -> Settings:
    return parse_settings(
        {
            "shop": {"name": "cov-shop", "timezone": SPEC.timezone},
            "source": {"base_url": base_url, "token": token, "page_size": 5000, **source},
            "warehouse": {"path": str(path)},
        }
    )


def test_a_short_backfill_marks_the_hours_it_never_read_and_keeps_them_out_of_baselines(
    sim_url: str, tmp_path: Path
) -> None:
    tz = ZoneInfo(SPEC.timezone)
    start = (SPEC.start + timedelta(days=12, hours=12)).astimezone(UTC)
    end = start + 6 * HOUR
    settings = settings_for(sim_url, tmp_path / "shop.duckdb")
    request = make_request(
        settings, start.astimezone(tz).isoformat(), end.astimezone(tz).isoformat(), now=end
    )
    summary = plain_backfill(settings, request, workers=2)
    assert not summary["failed"]

    with Warehouse(settings.warehouse.path) as wh:
        rows = wh.frame("select hour, visitors, buyers, complete from mart.kpi_hourly")
        inside = rows.filter((pl.col("hour") >= start) & (pl.col("hour") < end))
        outside = rows.filter((pl.col("hour") < start) | (pl.col("hour") >= end))
        # lines updated in the window but created days before it gave their hours KPI rows
        assert outside.height > 0 and outside.get_column("buyers").sum() > 0
        assert not outside.get_column("complete").any()
        assert inside.height == 6 and inside.get_column("complete").all()
        daily = wh.frame("select day, complete from mart.kpi_daily")
        assert not daily.get_column("complete").any()  # no local day was read whole

        # the rules' baseline sees the backfilled hours only
        history = wh.frame(
            read_sql("reads/rules_kpi_history"),
            {"start": start - timedelta(days=15), "end": end + 2 * HOUR, "as_of": end},
        )
        assert history.height > 0
        hours = history.get_column("hour").cast(TS)
        assert ((hours >= start) & (hours < end)).all()

        # the report's "same hour yesterday" and "7-day mean" of the next day: an hour the
        # backfill never read is no baseline (it gave 348.5 visitors vs 2,112, +506%, when it
        # counted); a backfilled hour is
        unread = outside.filter(pl.col("hour") < start).get_column("hour").max()
        assert isinstance(unread, datetime)
        assert kpi_baseline(wh, tz, unread + timedelta(days=1)) == {}
        assert kpi_baseline(wh, tz, start + timedelta(days=1))["visitors"]["days"] == 1

        # the daily digest of a day only stray lines touched (the first whole one: a digest
        # ignores a partly held first day anyway) has no data to show, rather than a day of
        # buyers without visitors
        earliest = outside.get_column("hour").min()
        assert isinstance(earliest, datetime)
        stray_day = earliest.astimezone(tz).date() + timedelta(days=1)
        assert stray_day < start.astimezone(tz).date()
        digest = daily_figures(wh, settings, stray_day)
        assert [n["code"] for n in digest["history"]["notes"]] == ["no_data"]
        assert digest["metrics"]["visitors"]["value"] is None


def test_the_first_hourly_run_marks_hours_before_its_lookback(sim_url: str, tmp_path: Path) -> None:
    settings = settings_for(sim_url, tmp_path / "shop.duckdb", lookback_hours=6)
    until = (SPEC.start + timedelta(days=10, hours=15)).astimezone(UTC)
    with (
        Warehouse(settings.warehouse.path) as wh,
        closing(make_source(settings.source)) as source,
    ):
        run_hour(wh, settings, source, until)
        rows = wh.frame("select hour, complete from mart.kpi_hourly")
        read = rows.filter(pl.col("hour") >= until - 6 * HOUR)
        before = rows.filter(pl.col("hour") < until - 6 * HOUR)
        assert read.height == 6 and read.get_column("complete").all()
        assert before.height > 0 and not before.get_column("complete").any()
        # the next run reads on from the watermark; the hours it reads are complete too
        run_hour(wh, settings, source, until + HOUR)
        (flag,) = wh.rows("select complete from mart.kpi_hourly where hour = ?", [until])[0]
        assert flag is True


# -- an hour whose orders failed is incomplete until a later window covers it ----------------


def test_an_hour_becomes_complete_when_a_later_run_covers_its_missing_dataset(
    tmp_path: Path,
) -> None:
    hour = "2026-11-11T10:00:00+08:00"
    backend = Backend(
        records={
            "orders": [order("T1")],
            "traffic": [traffic(hour)],
        },
        faults=[("orders", 503, {}, "{}")],
    )
    with serve(backend):
        settings = parse_settings(
            {
                "shop": {"name": "s", "timezone": "Asia/Shanghai"},
                "source": {
                    "base_url": backend.base_url,
                    "token": TOKEN,
                    "max_attempts": 1,
                    "lookback_hours": 2,
                    "datasets": ["orders", "traffic"],
                },
                "warehouse": {"path": str(tmp_path / "s.duckdb")},
            }
        )
        until = t("2026-11-11T11:00:00+08:00")
        with (
            Warehouse(settings.warehouse.path) as wh,
            closing(make_source(settings.source)) as source,
        ):
            run = run_hour(wh, settings, source, until)
            assert set(run.failures) == {"orders"}
            row = wh.rows("select visitors, buyers, complete from mart.kpi_hourly")
            assert row == [(400, 0, False)]  # traffic without its orders: no conversion drop
            summary = run_summary(wh, settings, run)
            assert summary["complete"] is False
            assert "incomplete" in (empty_reason(summary) or "")
            assert all(r is None for r in _changes(summary))

            run_hour(wh, settings, source, until)  # the orders export answers now
            row = wh.rows("select visitors, buyers, complete from mart.kpi_hourly")
            assert row == [(400, 1, True)]


def _changes(summary: dict[str, Any]) -> list[Any]:
    from flows.report import _kpi_rows

    return [r["change_vs_7d"] for r in _kpi_rows(summary)]


def test_a_run_with_no_kpi_row_says_why() -> None:
    summary: dict[str, Any] = {
        "hour": "2026-11-11T10:00:00+08:00",
        "kpis": {},
        "complete": False,
        "failures": {},
    }
    assert "no KPI row for hour 2026-11-11T10:00:00+08:00" in (empty_reason(summary) or "")
    assert empty_reason({**summary, "kpis": {"visitors": 1}, "complete": True}) is None
