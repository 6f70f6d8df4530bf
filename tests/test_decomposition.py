"""The GMV split: parts add up to the change (property), a hand-worked example, edge cases."""

from __future__ import annotations

import math

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from transforms.decomposition import decompose, decompose_frame, log_mean, weakest_link

counts = st.integers(min_value=0, max_value=5_000_000)
amounts = st.floats(min_value=0.0, max_value=1e9, allow_nan=False, allow_infinity=False)


@st.composite
def period(draw: st.DrawFn) -> tuple[int, int, float]:
    visitors = draw(counts)
    buyers = draw(st.integers(min_value=0, max_value=visitors)) if visitors else 0
    gmv = draw(amounts) if buyers else 0.0
    return visitors, buyers, gmv


@given(period(), period())
def test_the_three_effects_add_up_to_the_gmv_change(
    a: tuple[int, int, float], b: tuple[int, int, float]
) -> None:
    split = decompose((a[0], b[0]), (a[1], b[1]), (a[2], b[2]))
    assert split.gmv_change == b[2] - a[2]
    total = split.traffic_effect + split.conversion_effect + split.aov_effect
    assert math.isclose(total, split.gmv_change, rel_tol=1e-9, abs_tol=1e-9 * max(a[2], b[2], 1))


def test_a_hand_worked_example() -> None:
    # before: 1,000 visitors, 20 buyers (2%), ¥2,000 (AOV ¥100)
    # after:  1,200 visitors, 18 buyers (1.5%), ¥2,160 (AOV ¥120)
    # L(2000, 2160) = 160 / ln 1.08 = 2078.974; traffic = L ln 1.2 = 379.04,
    # conversion = L ln 0.75 = -598.08, AOV = L ln 1.2 = 379.04; 379.04 - 598.08 + 379.04 = 160
    split = decompose((1000, 1200), (20, 18), (2000.0, 2160.0))
    assert split.gmv_change == pytest.approx(160.0)
    assert split.traffic_effect == pytest.approx(379.0418, abs=1e-3)
    assert split.conversion_effect == pytest.approx(-598.0835, abs=1e-3)
    assert split.aov_effect == pytest.approx(379.0418, abs=1e-3)


def test_log_mean_of_equal_and_close_numbers() -> None:
    assert log_mean(5.0, 5.0) == 5.0
    assert log_mean(1.0, math.e) == pytest.approx(math.e - 1)
    assert log_mean(100.0, 100.0 + 1e-9) == pytest.approx(100.0)
    with pytest.raises(ValueError):
        log_mean(0.0, 1.0)


@pytest.mark.parametrize(
    ("visitors", "buyers", "gmv", "expected"),
    [
        # no buyers one week: the whole change is conversion (the limit as buyers go to zero)
        ((1000, 1000), (10, 0), (500.0, 0.0), (0.0, -500.0, 0.0)),
        # a source that did not exist the week before: the whole change is traffic
        ((0, 400), (0, 8), (0.0, 640.0), (640.0, 0.0, 0.0)),
        # nothing changed
        ((10, 10), (1, 1), (50.0, 50.0), (0.0, 0.0, 0.0)),
    ],
)
def test_edges_put_the_change_on_the_factor_that_vanished(
    visitors: tuple[int, int],
    buyers: tuple[int, int],
    gmv: tuple[float, float],
    expected: tuple[float, float, float],
) -> None:
    split = decompose(visitors, buyers, gmv)
    assert (split.traffic_effect, split.conversion_effect, split.aov_effect) == pytest.approx(
        expected
    )


def test_per_source_split_sums_hourly_rows_and_names_the_weakest_link() -> None:
    before = pl.DataFrame(
        {
            "source": ["search", "search", "ads"],
            "visitors": [500, 500, 200],
            "buyers": [10, 10, 6],
            "gmv": [1000.0, 1000.0, 600.0],
        }
    )
    after = pl.DataFrame(
        {
            "source": ["search", "ads", "social"],
            "visitors": [1000, 200, 50],
            "buyers": [20, 2, 1],
            "gmv": [2000.0, 200.0, 80.0],
        }
    )
    split = decompose_frame(before, after, "source")
    rows = {r["key"]: r for r in split.to_dicts()}
    assert rows["search"]["gmv_change"] == pytest.approx(0.0)
    assert rows["social"]["traffic_effect"] == pytest.approx(80.0)
    ads = rows["ads"]
    assert ads["gmv_change"] == pytest.approx(-400.0)
    assert ads["traffic_effect"] == pytest.approx(0.0)
    assert ads["aov_effect"] == pytest.approx(0.0)
    assert ads["conversion_effect"] == pytest.approx(-400.0)
    assert split["key"].to_list()[0] == "ads"  # most negative change first
    assert weakest_link(split) == ("ads", "conversion_effect", pytest.approx(-400.0))
    assert weakest_link(split.filter(pl.col("key") == "social")) is None
