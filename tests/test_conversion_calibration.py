"""conversion_drop's window variance matches the spread the simulator really has in promotions."""

from __future__ import annotations

import polars as pl
import pytest

from bench.calibration import clean_scenario, windows
from simulator import Simulator


@pytest.fixture(scope="module")
def promotion_windows() -> pl.DataFrame:
    """The tested windows inside promotions of promo_drops without its drops, seeds 0 and 1."""
    clean = clean_scenario()
    return pl.concat(windows(Simulator(clean, seed)) for seed in (0, 1))


def test_z_scores_of_incident_free_promotion_windows_have_unit_spread(
    promotion_windows: pl.DataFrame,
) -> None:
    # (buyers - expected) / sqrt(variance) has sd 1 when the variance is the real spread: a
    # narrower variance alerts on promotions' own noise, a wider one misses drops in them
    # (seeds 0-11 in pairs: 0.99-1.05; leaving out the baseline's own error, or the
    # uplift's uncertainty once the day's earlier hours are seen, gives 1.10)
    z = promotion_windows.get_column("z")
    assert z.len() > 4000
    assert 0.92 < z.std() < 1.08  # type: ignore[operator]
    # the shop and the sources, before and after the day's earlier hours tell the level
    # (k >= 0.8 is where drops late in a promotion day are judged; 3x traffic on 双11)
    groups = promotion_windows.group_by("shop", late=pl.col("k") >= 0.8).agg(
        sd=pl.col("z").std(), windows=pl.len()
    )
    assert groups.height == 4
    for row in groups.iter_rows(named=True):
        assert row["windows"] > 300, row
        assert 0.8 < row["sd"] < 1.3, row


def test_the_simulator_truth_the_calibration_uses_is_itself_calibrated(
    promotion_windows: pl.DataFrame,
) -> None:
    # buyers around the true expected buyers, over the simulator's own Beta-binomial
    # variance: if this were off, the test above would measure nothing
    assert 0.93 < promotion_windows.get_column("zt").std() < 1.07  # type: ignore[operator]
