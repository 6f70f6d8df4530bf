"""Is conversion_drop's window variance the spread the simulator really has, in promotions?

    python -m bench.calibration --seeds 12 [--first-seed 100]

Runs `transforms.conversion.conversion_scores` over the promotions of `promo_drops` with its
drops taken out (the same seeds, promotions, visitors and buyers, but no incident), and for
every window the rule would test (each hour at least 100 visitors) whose hours all run a
promotion, reports per promotion, scope kind (the shop, a source) and how much of the level
the same day's earlier hours have already told (k, see `_condition_on_today`):

- z = (buyers - expected) / sqrt(variance), the test's own: sd 1 when its variance is right,
  above 1 when it is too narrow (false alerts), below 1 when too wide (missed drops);
- p<.001: the share of windows whose lower tail is under 0.001 (0.001 when calibrated);
- zt: the same against the simulator's truth, its expected buyers at the true rate and day
  factor and the variance of its Beta-binomial hours (a check of that truth: sd 1);
- v/within: the test's variance over that within-day variance (above 1: the test also
  carries its uncertainty about the level), binom/within: the binomial's (the oracle's);
- level err: the sd of the test's expected buyers around the truth, relative.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from datetime import UTC

import numpy as np
import polars as pl

from bench.detection import hourly_frame
from simulator import SCENARIOS, SOURCES, Scenario, Simulator
from simulator.scenarios import PromoDrop
from simulator.timeline import KAPPA
from transforms.conversion import WINDOWS, conversion_scores

__all__ = ["CLEAN", "clean_scenario", "summary", "windows"]

TS = pl.Datetime("us", "UTC")
# promo_drops' promotions without their drops
CLEAN = "promo_drops_without_drops"
# the k bands of the report: no earlier hours, a few, most of the level told
BANDS = ((0.0, "k=0"), (0.5, "k<.5"), (0.8, "k<.8"), (1.01, "k>=.8"))


def clean_scenario() -> Scenario:
    """promo_drops with no drops."""
    base = SCENARIOS["promo_drops"]
    effects = tuple(replace(e, drops=()) if isinstance(e, PromoDrop) else e for e in base.effects)
    return Scenario(CLEAN, "promo_drops without its drops", effects)


def truth(sim: Simulator) -> pl.DataFrame:
    """Per hour and scope: the buyers expected at the true rate and day factor (without
    incidents), the within-day variance of the simulator's Beta-binomial hours, the binomial
    variance at the true rate, and the promotions running."""
    tl, clock = sim.timeline, sim.clock
    hours = clock.hours
    visitors = tl.visitors.sum(axis=2).astype(np.float64)
    rate = tl.base_conversion
    day = tl.day_conversion[clock.day[:hours]][:, None]
    mean_rate = np.clip(rate * day, 0.0, 1.0)
    mean = visitors * mean_rate
    within = (
        visitors * mean_rate * (1 - mean_rate)
        + visitors * (visitors - 1) * rate * (1 - rate) / (KAPPA + 1) * day**2
    )
    binomial = visitors * rate * (1 - rate)
    names = [" + ".join(sorted(p.name for p in running)) for running in tl.active]
    at = pl.Series([clock.instant(h).astimezone(UTC) for h in range(hours)]).cast(TS)
    frames = []
    for i, scope in enumerate([*SOURCES, ""]):
        cols = slice(i, i + 1) if scope else slice(0, len(SOURCES))
        frames.append(
            pl.DataFrame(
                {
                    "at": at,
                    "scope": [scope] * hours,
                    "m": mean[:, cols].sum(axis=1),
                    "within": within[:, cols].sum(axis=1),
                    "binomial": binomial[:, cols].sum(axis=1),
                    "promotion": names,
                }
            )
        )
    return pl.concat(frames)


def windows(sim: Simulator) -> pl.DataFrame:
    """The windows the rule tests from day 14 on whose hours all run a promotion: its
    scores with the truth summed over the same hours."""
    start = sim.clock.instant(14 * 24).astimezone(UTC)
    hourly = hourly_frame(sim)
    hours = hourly.filter(pl.col("hour") >= start).get_column("hour").unique()
    scores = conversion_scores(hourly, hours, sim.spec.timezone)
    real = truth(sim)
    sums = []
    for w in WINDOWS:
        sums.append(
            scores.filter(pl.col("window_hours") == w)
            .select("hour", "scope")
            .join(pl.DataFrame({"lag": list(range(w))}), how="cross")
            .with_columns(at=pl.col("hour") - pl.duration(hours=1) * pl.col("lag"))
            .join(real, on=["at", "scope"])
            .group_by("hour", "scope")
            .agg(
                m_w=pl.col("m").sum(),
                within_w=pl.col("within").sum(),
                binomial_w=pl.col("binomial").sum(),
                promoted=(pl.col("promotion") != "").all(),
                promotion=pl.col("promotion").first(),
            )
            .with_columns(window_hours=pl.lit(w, dtype=pl.Int64))
        )
    band = pl.lit(BANDS[-1][1])
    for edge, name in reversed(BANDS[:-1]):
        band = (
            pl.when(pl.col("k") <= edge if edge == 0.0 else pl.col("k") < edge)
            .then(pl.lit(name))
            .otherwise(band)
        )
    return (
        scores.join(pl.concat(sums), on=["hour", "scope", "window_hours"])
        .filter(
            pl.col("promoted")
            & (pl.col("visitors") >= 100)
            & (pl.col("min_n") >= 100)
            & (pl.col("e_w") > 0)
            & (pl.col("v_w") > 0)
        )
        .with_columns(
            z=(pl.col("x_w") - pl.col("e_w")) / pl.col("v_w").sqrt(),
            zt=(pl.col("x_w") - pl.col("m_w")) / pl.col("within_w").sqrt(),
            shop=pl.col("scope") == "",
            band=band,
            seed=pl.lit(sim.seed),
        )
        .filter(pl.col("z").is_finite() & pl.col("zt").is_finite())
    )


def summary(frame: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """The calibration columns (see the module's docstring) per group."""
    return (
        frame.group_by(by)
        .agg(
            windows=pl.len(),
            z_sd=pl.col("z").std(),
            z_mean=pl.col("z").mean(),
            p_lt_001=(pl.col("p_value") < 0.001).mean(),
            zt_sd=pl.col("zt").std(),
            v_over_within=(pl.col("v_w") / pl.col("within_w")).median(),
            binomial_over_within=(pl.col("binomial_w") / pl.col("within_w")).median(),
            level_err=(pl.col("e_w") / pl.col("m_w") - 1).std(),
            k=pl.col("k").median(),
            visitors_per_hour=(pl.col("n_w") / pl.col("window_hours")).median(),
        )
        .sort(by)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--first-seed", type=int, default=0)
    args = parser.parse_args()
    clean = clean_scenario()
    frame = pl.concat(
        windows(Simulator(clean, seed))
        for seed in range(args.first_seed, args.first_seed + args.seeds)
    )
    pl.Config.set_tbl_rows(200)
    pl.Config.set_tbl_cols(20)
    pl.Config.set_tbl_width_chars(250)
    pl.Config.set_tbl_formatting("ASCII_MARKDOWN")
    pl.Config.set_float_precision(3)
    frame = frame.with_columns(pl.col("promotion").str.slice(0, 40))
    for by in (["promotion", "shop"], ["promotion", "shop", "band"], ["shop", "band"]):
        print(summary(frame, by))


if __name__ == "__main__":
    main()
