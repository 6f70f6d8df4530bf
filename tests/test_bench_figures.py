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
