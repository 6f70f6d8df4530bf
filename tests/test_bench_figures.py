"""The bench's figures: the keys the HTTP part's answers give (no speed is asserted)."""

from __future__ import annotations

from typing import Any

from bench.__main__ import figures


def _http_el(**extra: Any) -> dict[str, Any]:
    """Answers of an HTTP extract + load part, as bench.ingest.measure gives them."""
    return {
        "page": {"records": 100, "pages": 1, "seconds": 0.5},
        "raw": {"seconds": 0.25},
        "http": {"seconds": 1.0, "peak_rss_mb": 300.0},
        "dlt": {"error": "skipped (--no-dlt)"},
        "checks": [],
        **extra,
    }


def test_the_http_floor_is_the_warm_pass_with_the_cold_one_beside_it() -> None:
    parts = {"http_el": _http_el(page_cold={"records": 100, "pages": 1, "seconds": 1.5})}
    keys, notes, checks = figures(parts, quick=False)
    assert (keys["http_floor_s"], keys["http_floor_cold_s"]) == (0.5, 1.5)
    assert keys["http_raw_ratio"] == 0.25
    assert keys["dlt_ratio"] is None and notes["dlt_ratio"] == "skipped (--no-dlt)"
    assert checks == []


def test_answers_without_a_cold_pass_still_give_the_floor() -> None:
    keys, _, _ = figures({"http_el": _http_el()}, quick=False)
    assert keys["http_floor_s"] == 0.5
    assert "http_floor_cold_s" not in keys


def _hourly(**history: dict[str, Any]) -> dict[str, Any]:
    """The hourly part's answer (bench.hourly.measure) for runs by history length in days."""
    return {
        "size": "mid",
        "lines_per_hour": 500,
        "prefect_start_s": 9.0,
        "run_peak_rss_mb": 800.0,
        "history": {days.removeprefix("d"): run for days, run in history.items()},
    }


def _run(wall: float, **extra: Any) -> dict[str, Any]:
    """One history length's build and timed runs."""
    run = {"median_wall_s": wall, "median_cpu_s": wall / 2, "order_lines": 10, "statuses": ["ok"]}
    return {"build": {"seconds": 1.0}, "run": {**run, **extra}}


def test_the_hourly_run_is_set_against_paging_its_own_windows() -> None:
    hourly = _hourly(
        d7=_run(4.0, median_paging_s=2.5, paged_records=1000),
        d365=_run(5.0, median_paging_s=9.9, paged_records=1000),
    )
    keys, _, checks = figures({"hourly": hourly}, quick=False)
    # the short history's run and paging, side by side
    assert (keys["hourly_paging_s"], keys["hourly_paged_records"]) == (2.5, 1000)
    assert keys["hourly_paging_ratio"] == 1.6
    assert keys["history_growth"] == 1.25 and checks == []


def test_hourly_answers_from_before_the_paging_pass_leave_its_ratio_empty() -> None:
    keys, _, _ = figures({"hourly": _hourly(d7=_run(4.0), d365=_run(4.0))}, quick=False)
    assert keys["hourly_paging_s"] is None and keys["hourly_paging_ratio"] is None
