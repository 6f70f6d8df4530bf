"""conversion_drop (DESIGN.md §6): is conversion in this hour really below its usual level?

For each scope (the shop, each traffic source) and evaluated hour t:

1. Baseline: the same local hour on each of the previous `baseline_days` days, in the same
   promotion state as t (the same kinds of promotion running; a kind not run lately falls
   back to every day of that hour, and how it differs is read from its own first hours,
   see 3);
   hours that were themselves anomalous (more than `outlier_z` standard deviations from
   the baseline's median) are left out, t never is in it.
2. Spread: conversion varies more than a binomial, so the hour-to-hour over-dispersion
   (`rho`, per scope, from the residuals of the baseline period) and the day-level
   correlation between hours (`tau2`, a slow day is slow all day) are estimated from the
   same days, and the baseline's own estimation error is added.
3. Today: the same day's earlier hours (same promotion state) say how the day runs and how
   much a running promotion lifts conversion; each window's expectation is scaled by that,
   shrunk by how much a day usually varies and how uncertain the uplift is before the
   promotion's own hours are seen (more for a kind the baseline never ran, unless it barely
   lifts traffic).
4. Evidence over the last 1, 2 and 3 hours: buyers against expected buyers, as a
   beta-binomial lower tail, so a sustained moderate drop accumulates evidence while a
   single bad hour of a big drop is caught at once (half of alpha goes to the one-hour test).

Every step reads only rows at or before t (baseline days strictly before t's local day), so
evaluating all hours at once gives the same answer as evaluating each hour alone. Steps 1 and
2 live in `transforms.baseline`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from transforms.baseline import (
    CONVERSION_INPUT_SCHEMA,
    PROMO_STATE,
    SHOP,
    TS,
    conversion_baseline,
    dispersion,
    prepare,
)
from transforms.stats import effective_rho, lower_tail

__all__ = [
    "CONVERSION_CANDIDATE_SCHEMA",
    "CONVERSION_INPUT_SCHEMA",
    "PROMO_STATE",
    "SHOP",
    "WINDOWS",
    "conversion_baseline",
    "conversion_drop",
    "conversion_scores",
    "dispersion",
    "sku_breakdown",
    "source_breakdown",
]

# how far back "GMV lost so far" looks for the start of a drop
RUN_HOURS = 12
# the lengths (hours) of the windows whose evidence is tested, ending at the evaluated hour
WINDOWS = (1, 2, 3)
# the share of alpha spent on the one-hour window (the rest is split over the longer ones)
FIRST_HOUR_SHARE = 0.5
# hours back from the evaluated hour that can share its local day
DAY_HOURS = 24
# relative variance of a promotion's conversion uplift before its own hours are seen: one
# whose kind the baseline days never ran is judged against every day of its hour, whatever
# ran on it (it may convert 20% better or worse); one of a known kind may still be bigger or
# smaller
NEW_PROMO_VAR = 0.04
PROMO_VAR = 0.01
# a promotion of a new kind that barely lifts traffic is taken to lift conversion little: its
# uplift's prior variance is (TRAFFIC_SCALE x its traffic lift)^2 (the visitors of its hours
# so far over their usual, against the same day's hours before it), between this floor and
# NEW_PROMO_VAR. bench.detection, 12 seeds: the goal class in promo_drops 65 -> 69 of 95
# (a first presale 9 -> 13), false alerts 23 -> 18 over four scenarios; TRAFFIC_SCALE 1:
# 67 of 95. Seeds 100-111: 67 -> 68 of 96, false alerts 29 -> 28
NEW_PROMO_FLOOR = 0.0025
TRAFFIC_SCALE = 0.5
# an earlier hour of the day this many standard deviations under the others is left out of
# the same-day correction (bench.detection, 12 seeds: 2.0 finds more and alerts more)
EARLIER_Z = 2.5

CONVERSION_CANDIDATE_SCHEMA: dict[str, pl.DataType] = {
    "hour": TS,
    "source": pl.String(),
    "visitors": pl.Int64(),
    "buyers": pl.Int64(),
    "conversion_rate": pl.Float64(),
    "baseline_rate": pl.Float64(),
    "baseline_hours": pl.Int64(),
    "window_hours": pl.Int64(),
    "window_rate": pl.Float64(),
    "window_baseline_rate": pl.Float64(),
    "drop": pl.Float64(),
    "p_value": pl.Float64(),
    "missing_buyers": pl.Float64(),
    "run_hours": pl.Int64(),
    "baseline_aov": pl.Float64(),
    "gmv_lost": pl.Float64(),
}


def conversion_scores(
    hourly: pl.DataFrame,
    hours: pl.Series,
    tz: str,
    *,
    baseline_days: int = 14,
    windows: Sequence[int] = WINDOWS,
    outlier_z: float = 3.0,
    min_baseline_hours: int = 4,
    min_drop: float = 0.25,
    promo_var: float = PROMO_VAR,
    new_promo_var: float = NEW_PROMO_VAR,
    new_promo_floor: float | None = NEW_PROMO_FLOOR,
) -> pl.DataFrame:
    """One row per (evaluated hour, scope, window length w): buyers against expected buyers
    over the w hours ending at that hour, the relative drop and the beta-binomial lower tail;
    plus the run of consecutive hours (up to RUN_HOURS) that were down by `min_drop / 2` or
    more, and the buyers they missed.

    `hourly` needs, per scope, the rows of the `baseline_days` days before each evaluated
    hour and of the RUN_HOURS hours before it (columns CONVERSION_INPUT_SCHEMA; `source`
    null for the shop). Scopes without a usable baseline are left out. `new_promo_floor`
    None: a new kind's uplift prior is `new_promo_var` whatever its traffic does.
    """
    frame = prepare(hourly, tz)
    # the same local day's earlier hours tell how today runs (DAY_HOURS back at most)
    span = max(max(windows), RUN_HOURS, DAY_HOURS)
    wanted = hours.cast(TS)
    # the hours each window needs: the evaluated hours and the span - 1 before them
    needed = (
        pl.DataFrame({"hour": wanted})
        .with_columns(back=pl.int_ranges(0, span).list.eval(pl.element() * pl.duration(hours=1)))
        .explode("back")
        .select(hour=pl.col("hour") - pl.col("back"))
        .unique()
        .get_column("hour")
    )
    base = conversion_baseline(
        hourly,
        needed,
        tz,
        baseline_days=baseline_days,
        outlier_z=outlier_z,
        min_baseline_hours=min_baseline_hours,
    )
    obs = frame.join(base, on=["hour", "scope"]).with_columns(
        expected=pl.col("visitors") * pl.col("baseline_rate"),
    )
    n = pl.col("visitors")
    p = pl.col("baseline_rate")
    uplift_var = (
        pl.when(~pl.col("in_promo"))
        .then(0.0)
        .when(pl.col("same_state"))
        .then(promo_var)
        .otherwise(new_promo_var)
    )
    obs = obs.with_columns(
        var=n * p * (1 - p) * (1 + (n - 1) * pl.col("rho")) + n**2 * pl.col("baseline_var"),
        uplift_var=uplift_var,
    ).select(
        "hour",
        "scope",
        "day",
        "state",
        "visitors",
        "buyers",
        "expected",
        "var",
        "baseline_rate",
        "baseline_hours",
        "baseline_visitors",
        "baseline_aov",
        "tau2",
        "uplift_var",
        "same_state",
    )
    runs = _runs(obs, min_drop)
    parts = []
    current = obs.join(pl.DataFrame({"hour": wanted}).unique(), on="hour", how="semi")
    lift = _traffic_lift(current, obs) if new_promo_floor is not None else None
    for w in sorted(set(windows)):
        back = pl.DataFrame({"lag": list(range(w))})
        pieces = (
            current.select("hour", "scope")
            .join(back, how="cross")
            .with_columns(at=pl.col("hour") - pl.duration(hours=1) * pl.col("lag"))
            .join(
                obs.select(
                    "scope",
                    at="hour",
                    n="visitors",
                    x="buyers",
                    e="expected",
                    v="var",
                    tau2="tau2",
                    u="uplift_var",
                    same="same_state",
                ),
                on=["scope", "at"],
            )
        )
        sums = (
            pieces.group_by("hour", "scope")
            .agg(
                hours=pl.len(),
                n_w=pl.col("n").sum(),
                x_w=pl.col("x").sum(),
                e_w=pl.col("e").sum(),
                sum_v=pl.col("v").sum(),
                sum_e2=(pl.col("e") ** 2).sum(),
                binomial=(pl.col("e") * (1 - pl.col("e") / pl.col("n"))).sum(),
                tau2=pl.col("tau2").max(),
                uplift_var=pl.col("u").max(),
                min_n=pl.col("n").min(),
                same_state=pl.col("same").all(),
            )
            .filter(pl.col("hours") == w)
            .with_columns(window_hours=pl.lit(w, dtype=pl.Int64))
        )
        if lift is not None and new_promo_floor is not None:
            sums = _traffic_prior(sums, lift, new_promo_floor)
        parts.append(_condition_on_today(sums, current, obs, w))
    windowed = pl.concat(parts)
    if windowed.is_empty():
        tails = np.zeros(0)
    else:
        n_w = windowed.get_column("n_w").to_numpy().astype(np.float64)
        p_w = (windowed.get_column("e_w") / windowed.get_column("n_w")).to_numpy()
        rho_w = effective_rho(n_w, p_w, windowed.get_column("v_w").to_numpy())
        tails = lower_tail(windowed.get_column("x_w").to_numpy(), n_w, p_w, rho_w)
    windowed = windowed.with_columns(
        p_value=pl.Series(tails, dtype=pl.Float64),
        drop=1 - pl.col("x_w") / pl.col("e_w"),
        window_rate=pl.col("x_w") / pl.col("n_w"),
        window_baseline_rate=pl.col("e_w") / pl.col("n_w"),
    )
    return (
        current.join(windowed, on=["hour", "scope"])
        .join(runs, on=["hour", "scope"], how="left")
        .with_columns(
            source=pl.when(pl.col("scope") == SHOP).then(None).otherwise(pl.col("scope")),
            conversion_rate=pl.col("buyers") / pl.col("visitors"),
            hour_drop=1 - pl.col("buyers") / pl.col("expected"),
        )
        .sort("hour", "scope", "window_hours")
    )


def _condition_on_today(
    sums: pl.DataFrame, current: pl.DataFrame, obs: pl.DataFrame, w: int
) -> pl.DataFrame:
    """Scale each window's expected buyers by how the same local day ran before it.

    Conversion shares a day-level factor across hours (`tau2`, a slow day is slow all
    day), and a promotion lifts it by an uplift not known in advance (`uplift_var`, its
    prior relative variance). The hours of the same local day before the window, in the
    same promotion state as the evaluated hour (a sale's hours say nothing of the afternoon
    after it; a promotion's own first hours say how much it lifts), estimate both: with
    T = tau2 + uplift_var and X, E, V the buyers, expected buyers and variance of those hours,
    factor = 1 + k (X / E - 1) with k = T / (T + V / E^2), and the factor's remaining
    variance T (1 - k) replaces tau2 in the window's variance. Earlier hours more than
    EARLIER_Z standard deviations under the others (a drop that began before the window)
    are left out. A window with no such earlier hours (it starts at local midnight, or with
    the promotion) keeps k = 0: the plain baseline, with the whole of T as its uncertainty.
    V holds only what is the earlier hours' own: their share of the day level (tau2 e^2 each)
    is the very thing they measure, not noise around it.
    """
    earlier = (
        current.select("hour", "scope", "day", "state")
        .join(
            obs.select(
                "scope",
                "day",
                "state",
                "tau2",
                at="hour",
                n="visitors",
                x="buyers",
                e="expected",
                v="var",
            ),
            on=["scope", "day", "state"],
        )
        .filter(pl.col("at") < pl.col("hour") - pl.duration(hours=w - 1))
    )
    # an earlier hour far below the others (a drop that began before the window) says
    # nothing of the day's level: left out, so it cannot lower what the window is held to
    level = pl.col("x").sum().over("hour", "scope") / pl.col("e").sum().over("hour", "scope")
    z = (pl.col("x") - pl.col("e") * level) / pl.col("v").sqrt()
    before = (
        earlier.filter(z.fill_nan(0.0).fill_null(0.0) > -EARLIER_Z)
        .group_by("hour", "scope")
        .agg(
            x_r=pl.col("x").sum(),
            e_r=pl.col("e").sum(),
            # never below the binomial's own spread
            v_r=pl.max_horizontal(
                pl.col("v") - pl.col("tau2") * pl.col("e") ** 2,
                pl.col("e") * (1 - pl.col("e") / pl.col("n")),
            ).sum(),
        )
    )
    tau2 = pl.col("tau2")
    shared = tau2 + pl.col("uplift_var")
    k = (
        pl.when((pl.col("e_r") > 0) & (shared > 0))
        .then(shared / (shared + pl.col("v_r") / pl.col("e_r") ** 2))
        .otherwise(0.0)
        .fill_null(0.0)
    )
    factor = 1 + pl.col("k") * (pl.col("x_r") / pl.col("e_r") - 1).fill_null(0.0)
    return (
        sums.join(before, on=["hour", "scope"], how="left")
        .with_columns(k=k)
        .with_columns(factor=factor)
        .with_columns(
            e_w=pl.col("e_w") * pl.col("factor"),
            # per-hour variances already hold the day-level share tau2 e^2; swap it for
            # the remaining (tau2 + uplift_var) (1 - k) over the whole window
            v_w=pl.max_horizontal(
                pl.col("sum_v")
                - tau2 * pl.col("sum_e2")
                + shared * (1 - pl.col("k")) * pl.col("e_w") ** 2,
                pl.col("binomial"),
            ),
        )
        .drop("x_r", "e_r", "v_r", "sum_v", "sum_e2", "binomial")
    )


def _traffic_lift(current: pl.DataFrame, obs: pl.DataFrame) -> pl.DataFrame:
    """Per (evaluated hour, scope): how much its promotion state lifts traffic. The visitors of
    the same local day's hours up to the evaluated hour in its promotion state, over the
    visitors those hours usually have, against the same ratio of the day's hours before them
    (1 when there are none), less 1."""
    hours = current.select("hour", "scope", "day", "state").join(
        obs.select(
            "scope", "day", at="hour", at_state="state", n="visitors", b="baseline_visitors"
        ),
        on=["scope", "day"],
    )
    inside = (pl.col("at_state") == pl.col("state")) & (pl.col("at") <= pl.col("hour"))
    before = (pl.col("at_state") != pl.col("state")) & (pl.col("at") < pl.col("hour"))
    return (
        hours.group_by("hour", "scope")
        .agg(
            n_in=pl.col("n").filter(inside).sum(),
            b_in=pl.col("b").filter(inside).sum(),
            n_before=pl.col("n").filter(before).sum(),
            b_before=pl.col("b").filter(before).sum(),
        )
        .with_columns(
            lift=(pl.col("n_in") / pl.col("b_in"))
            / pl.when(pl.col("b_before") > 0)
            .then(pl.col("n_before") / pl.col("b_before"))
            .otherwise(1.0)
            - 1
        )
        .select("hour", "scope", "lift")
    )


def _traffic_prior(sums: pl.DataFrame, lift: pl.DataFrame, floor: float) -> pl.DataFrame:
    """Narrow the uplift prior of a window in a promotion of a new kind by how much it lifts
    traffic (`_traffic_lift`): the prior variance becomes that lift squared, at least
    `floor`, never above what it was."""
    narrowed = pl.min_horizontal(
        pl.col("uplift_var"),
        pl.max_horizontal((TRAFFIC_SCALE * pl.col("lift")) ** 2, pl.lit(floor)),
    )
    return (
        sums.join(lift, on=["hour", "scope"], how="left")
        .with_columns(
            uplift_var=pl.when(~pl.col("same_state") & pl.col("lift").is_finite())
            .then(narrowed)
            .otherwise(pl.col("uplift_var"))
        )
        .drop("lift")
    )


def _runs(obs: pl.DataFrame, min_drop: float) -> pl.DataFrame:
    """Per (hour, scope): the run of consecutive hours up to it that were clearly down (at
    most RUN_HOURS), and the buyers those hours missed (expected minus actual)."""
    one = obs.select("hour", "scope", "expected", "buyers").sort("scope", "hour")
    down = (1 - pl.col("buyers") / pl.col("expected") >= min_drop / 2).fill_null(False)
    step = pl.col("hour").diff() != pl.duration(hours=1)
    change = (pl.col("down") != pl.col("down").shift(1)) | step
    return (
        one.with_columns(down=down)
        .with_columns(run=change.fill_null(True).cum_sum().over("scope"))
        .with_columns(
            run_hours=pl.int_range(1, pl.len() + 1).over("scope", "run").clip(None, RUN_HOURS),
            run_missing=(pl.col("expected") - pl.col("buyers"))
            .rolling_sum(RUN_HOURS, min_samples=1)
            .over("scope", "run"),
        )
        .with_columns(
            run_hours=pl.when(pl.col("down")).then(pl.col("run_hours")).otherwise(0),
            run_missing=pl.when(pl.col("down")).then(pl.col("run_missing")).otherwise(0.0),
        )
        .select("hour", "scope", "run_hours", "run_missing")
    )


def conversion_drop(
    scores: pl.DataFrame,
    *,
    min_drop: float = 0.25,
    min_visitors: int = 100,
    alpha: float = 0.001,
) -> pl.DataFrame:
    """The (hour, scope) pairs whose conversion is down: for some window the drop is at
    least `min_drop`, each hour has at least `min_visitors`, the lower tail is under
    its share of `alpha` (FIRST_HOUR_SHARE for the one-hour window, the rest split evenly
    over the longer ones), and the evaluated hour itself is below its baseline.

    Per pair the most significant window is kept; `missing_buyers` and `gmv_lost` (missing
    buyers × baseline AOV) cover the run of hours that were down so far, at least the window.
    """
    if scores.is_empty():
        return pl.DataFrame(schema=CONVERSION_CANDIDATE_SCHEMA)
    lengths = set(scores.get_column("window_hours").unique().to_list())
    # a share of the false-alert budget goes to the one-hour test, so a big drop is caught
    # in its first hour; the longer windows split the rest (alpha over all windows in all)
    first = (FIRST_HOUR_SHARE if len(lengths) > 1 else 1.0) if 1 in lengths else 0.0
    others = len(lengths - {1})
    level = (
        pl.when(pl.col("window_hours") == 1)
        .then(alpha * first)
        .otherwise(alpha * (1 - first) / max(others, 1))
    )
    hits = (
        scores.filter(
            (pl.col("visitors") >= min_visitors)
            & (pl.col("min_n") >= min_visitors)
            & (pl.col("drop") >= min_drop)
            & (pl.col("hour_drop") > 0)
            & (pl.col("p_value") < level)
        )
        .sort("p_value", "window_hours")
        .group_by("hour", "scope", maintain_order=True)
        .first()
    )
    window_missing = pl.col("e_w") - pl.col("x_w")
    longer = pl.col("run_hours").fill_null(0) > pl.col("window_hours")
    return (
        hits.with_columns(
            missing_buyers=pl.when(longer)
            .then(pl.max_horizontal(pl.col("run_missing"), window_missing))
            .otherwise(window_missing),
            run_hours=pl.max_horizontal(pl.col("run_hours").fill_null(0), "window_hours"),
        )
        .with_columns(gmv_lost=pl.col("missing_buyers") * pl.col("baseline_aov").fill_null(0.0))
        .select([pl.col(c).cast(t) for c, t in CONVERSION_CANDIDATE_SCHEMA.items()])
        .sort("hour", "source", nulls_last=False)
    )


def source_breakdown(scores: pl.DataFrame, hour: pl.Expr | object, hours: int) -> pl.DataFrame:
    """Missing buyers per source over the `hours` hours ending at `hour`, largest first,
    with each source's share of the sources' total shortfall."""
    current = scores.filter(
        (pl.col("hour") == hour) & (pl.col("window_hours") == hours) & (pl.col("scope") != SHOP)
    )
    missing = (pl.col("e_w") - pl.col("x_w")).alias("missing_buyers")
    # a source without buyers in its baseline (orders that carry no source) has no expected
    # buyers to miss: NaN, which Polars orders above every number
    out = current.select("source", missing, expected="e_w", buyers="x_w").filter(
        pl.col("missing_buyers").is_not_nan() & (pl.col("missing_buyers") > 0)
    )
    total = out.get_column("missing_buyers").sum()
    return out.with_columns(share=pl.col("missing_buyers") / total if total else pl.lit(0.0)).sort(
        "missing_buyers", descending=True
    )


def sku_breakdown(
    rows: pl.DataFrame, window: pl.Series, source: str | None, *, top: int = 3
) -> pl.DataFrame:
    """Missing buyers per SKU over the `window` hours (in one source, or all when None),
    against each SKU's conversion in the other hours of `rows` (the same local hours on
    the baseline days); the `top` SKUs with the largest shortfall, with their share.

    `rows`: hour, source, sku_id, visitors, buyers.
    """
    scoped = rows if source is None else rows.filter(pl.col("source") == source)
    now = pl.col("hour").is_in(window.cast(TS).implode())
    visitors, buyers = pl.col("visitors").cast(pl.Float64), pl.col("buyers").cast(pl.Float64)
    per_sku = scoped.group_by("sku_id").agg(
        visitors=visitors.filter(now).sum(),
        buyers=buyers.filter(now).sum(),
        base_visitors=visitors.filter(~now).sum(),
        base_buyers=buyers.filter(~now).sum(),
    )
    found = (
        per_sku.filter(pl.col("base_visitors") > 0)
        .with_columns(expected=pl.col("visitors") * pl.col("base_buyers") / pl.col("base_visitors"))
        .with_columns(missing_buyers=pl.col("expected") - pl.col("buyers"))
        .filter(pl.col("missing_buyers") > 0)
    )
    total = found.get_column("missing_buyers").sum()
    return (
        found.with_columns(share=pl.col("missing_buyers") / total if total else pl.lit(0.0))
        .sort("missing_buyers", "sku_id", descending=[True, False])
        .head(top)
        .select("sku_id", "missing_buyers", "expected", "buyers", "share")
    )
