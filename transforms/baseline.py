"""The conversion baseline: what an hour's conversion usually is, and how much it varies.

Steps 1 and 2 of `transforms.conversion`: for each evaluated hour and scope (the shop, each
traffic source), the same local hour on each of the previous `baseline_days` days in the same
promotion state (a kind of promotion not run lately: every day of that hour), outliers left
out, pooled; and the over-dispersion (`rho`) and day-level spread (`tau2`) estimated from the
same days. Only days strictly before the evaluated hour's local day are read.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

__all__ = [
    "CONVERSION_INPUT_SCHEMA",
    "PROMO_STATE",
    "SHOP",
    "TS",
    "conversion_baseline",
    "dispersion",
    "prepare",
]

TS = pl.Datetime("us", "UTC")
# the scope key of shop-level rows (source is null in inputs and outputs)
SHOP = ""
# optional input column: the promotion state of the hour, e.g. "discount+presale" (the kinds
# running, "" for none); without it the state is whether any promotion runs (`in_promo`)
PROMO_STATE = "promo_state"

CONVERSION_INPUT_SCHEMA: dict[str, pl.DataType] = {
    "hour": TS,
    "source": pl.String(),
    "visitors": pl.Int64(),
    "buyers": pl.Int64(),
    "gmv": pl.Float64(),
    "in_promo": pl.Boolean(),
}


def prepare(hourly: pl.DataFrame, tz: str) -> pl.DataFrame:
    """The input rows typed, with their scope, local hour, local day and promotion state;
    hours without visitors are left out."""
    local = pl.col("hour").dt.convert_time_zone(tz)
    in_promo = pl.col("in_promo").fill_null(False)
    kinds = (
        pl.col(PROMO_STATE).cast(pl.String)
        if PROMO_STATE in hourly.columns
        else pl.lit(None, dtype=pl.String)
    )
    return (
        hourly.select(
            *[pl.col(c).cast(t) for c, t in CONVERSION_INPUT_SCHEMA.items()],
            state=kinds.fill_null(
                pl.when(in_promo).then(pl.lit("promotion")).otherwise(pl.lit(""))
            ),
        )
        .with_columns(
            scope=pl.col("source").fill_null(SHOP),
            hod=local.dt.hour(),
            day=local.dt.date(),
            in_promo=in_promo,
        )
        .filter(pl.col("visitors") > 0)
    )


def _target_days(frame: pl.DataFrame, hours: pl.Series, tz: str) -> pl.DataFrame:
    local = pl.col("hour").dt.convert_time_zone(tz)
    return (
        pl.DataFrame({"hour": hours.cast(TS)})
        .select(target_day=local.dt.date())
        .unique()
        .sort("target_day")
    )


def _baseline_rows(frame: pl.DataFrame, days: pl.DataFrame, baseline_days: int) -> pl.DataFrame:
    """Each target day joined with the rows of the `baseline_days` days before it."""
    return days.join(frame, how="cross").filter(
        (pl.col("day") < pl.col("target_day"))
        & (pl.col("day") >= pl.col("target_day") - timedelta(days=baseline_days))
    )


def dispersion(
    hourly: pl.DataFrame, hours: pl.Series, tz: str, *, baseline_days: int = 14
) -> pl.DataFrame:
    """Per target local day and scope: `rho` (hour-to-hour over-dispersion), `rho_promo`
    (the same over promotion hours alone, never below `rho`) and `tau2`
    (relative variance shared by the hours of one day), from the `baseline_days` before it.

    Residuals are taken around each (local hour, promotion state) mean; a first pass flags
    hours more than 4 sd out (incidents) and the second pass leaves them out.
    """
    frame = prepare(hourly, tz)
    rows = _baseline_rows(frame, _target_days(frame, hours, tz), baseline_days)
    groups = ["target_day", "scope", "hod", "state"]
    rows = rows.with_columns(
        p=pl.col("buyers").sum().over(groups) / pl.col("visitors").sum().over(groups),
        m=pl.len().over(groups).cast(pl.Float64),
    ).filter((pl.col("m") >= 3) & (pl.col("p") > 0) & (pl.col("p") < 1))
    rows = rows.with_columns(
        r=pl.col("buyers") - pl.col("visitors") * pl.col("p"),
        e=pl.col("visitors") * pl.col("p") * (1 - pl.col("p")),
        c=pl.col("m") / (pl.col("m") - 1),
    ).with_columns(
        excess=pl.col("r") ** 2 * pl.col("c") - pl.col("e"),
        scale=pl.col("visitors") * (pl.col("visitors") - 1) * pl.col("p") * (1 - pl.col("p")),
    )
    keys = ["target_day", "scope"]

    def rho_of(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.group_by(keys).agg(
            rho=(pl.col("excess").sum() / pl.col("scale").sum()).clip(0.0, 0.5)
        )

    # flag incidents against a robust spread: each row's (r^2 / e / 0.455 - 1) / (n - 1)
    # has median rho (0.455 is the median of a chi-square with one degree of freedom), so
    # a few outliers cannot inflate the spread that is meant to judge them
    each = (pl.col("r") ** 2 / pl.col("e") / 0.455 - 1) / (pl.col("visitors") - 1)
    robust = each.median().over(keys).clip(0.0, 0.5)
    flagged = rows.with_columns(
        z=pl.col("r") / (pl.col("e") * (1 + (pl.col("visitors") - 1) * robust)).sqrt()
    )
    kept = flagged.filter(pl.col("z").abs() <= 4.0).drop("z")
    # promotion hours mix promotions of different kinds and uplifts: their own spread,
    # never taken below the scope's
    promo = (
        kept.filter(pl.col("in_promo"))
        .group_by(keys)
        .agg(rho_promo=(pl.col("excess").sum() / pl.col("scale").sum()).clip(0.0, 0.5))
    )
    rho = rho_of(kept).join(promo, on=keys, how="left")
    # tau2: covariance of relative residuals between different hours of the same day
    daily = (
        kept.with_columns(expected=pl.col("visitors") * pl.col("p"))
        .group_by([*keys, "day"])
        .agg(
            cross=pl.col("r").sum() ** 2 - (pl.col("r") ** 2).sum(),
            pairs=pl.col("expected").sum() ** 2 - (pl.col("expected") ** 2).sum(),
            c=pl.col("c").mean(),
        )
    )
    tau = daily.group_by(keys).agg(
        tau2=((pl.col("cross") * pl.col("c")).sum() / pl.col("pairs").sum()).clip(0.0, 0.25)
    )
    # a day with one hour (or one day) has no pairs to estimate from: no shared variance
    return (
        rho.join(tau, on=keys, how="left")
        .with_columns(
            pl.col("rho").fill_nan(0.0),
            pl.col("rho_promo").fill_nan(None),
            pl.col("tau2").fill_null(0.0).fill_nan(0.0),
        )
        .with_columns(rho_promo=pl.max_horizontal("rho", "rho_promo"))
    )


def _pooled(
    targets: pl.DataFrame,
    frame: pl.DataFrame,
    spread: pl.DataFrame,
    on: list[str],
    *,
    baseline_days: int,
    outlier_z: float,
    min_baseline_hours: int,
) -> pl.DataFrame:
    """Per target (hour, scope): the baseline rows matching it `on` these columns over the
    `baseline_days` before its day, outliers left out, pooled; at least min_baseline_hours."""
    rows = (
        targets.join(
            frame.select(*on, "day", "visitors", "buyers", "gmv"),
            on=on,
        )
        .filter(
            (pl.col("day") < pl.col("target_day"))
            & (pl.col("day") >= pl.col("target_day") - timedelta(days=baseline_days))
        )
        .join(spread, on=["target_day", "scope"], how="left")
        .with_columns(
            rho=pl.when(pl.col("in_promo"))
            .then(pl.col("rho_promo"))
            .otherwise(pl.col("rho"))
            .fill_null(0.0),
            tau2=pl.col("tau2").fill_null(0.0),
        )
    )
    keys = ["hour", "scope"]
    rate = pl.col("buyers") / pl.col("visitors")
    rows = rows.with_columns(median=rate.median().over(keys)).with_columns(
        z=(pl.col("buyers") - pl.col("visitors") * pl.col("median"))
        / (
            pl.col("visitors")
            * pl.col("median")
            * (1 - pl.col("median"))
            * (1 + (pl.col("visitors") - 1) * pl.col("rho"))
        ).sqrt()
    )
    # a baseline of zeros (median 0) cannot flag anything: keep every row then
    kept = rows.filter(pl.col("z").is_nan() | (pl.col("z").abs() <= outlier_z))
    return (
        kept.group_by(keys)
        .agg(
            baseline_hours=pl.len().cast(pl.Int64),
            base_visitors=pl.col("visitors").sum(),
            base_buyers=pl.col("buyers").sum(),
            base_gmv=pl.col("gmv").sum(),
            rho=pl.col("rho").first(),
            tau2=pl.col("tau2").first(),
            # sum of n_i (1 + (n_i - 1) rho) for the variance of the pooled rate
            spread=(pl.col("visitors") * (1 + (pl.col("visitors") - 1) * pl.col("rho"))).sum(),
        )
        .filter(pl.col("baseline_hours") >= min_baseline_hours)
    )


def conversion_baseline(
    hourly: pl.DataFrame,
    hours: pl.Series,
    tz: str,
    *,
    baseline_days: int = 14,
    outlier_z: float = 3.0,
    min_baseline_hours: int = 4,
) -> pl.DataFrame:
    """Per evaluated hour and scope: the baseline rate, its variance, the baseline AOV and
    the spread parameters, for every scope with traffic in that hour.

    The baseline hours are those in the same promotion state (the same kinds running);
    where those are fewer than `min_baseline_hours` (a kind of promotion the shop has not
    run lately), every hour of that local hour stands in (`same_state` false).
    """
    frame = prepare(hourly, tz)
    spread = dispersion(hourly, hours, tz, baseline_days=baseline_days)
    wanted = pl.DataFrame({"hour": hours.cast(TS)}).unique()
    targets = frame.join(wanted, on="hour", how="semi").select(
        "hour", "scope", "hod", "state", "in_promo", target_day="day"
    )

    def pooled(on: list[str]) -> pl.DataFrame:
        return _pooled(
            targets,
            frame,
            spread,
            on,
            baseline_days=baseline_days,
            outlier_z=outlier_z,
            min_baseline_hours=min_baseline_hours,
        )

    # a promotion of a kind the baseline days did not run: every day of that local hour
    # stands in, whatever ran on it (its own first hours then say how it differs). Not just
    # the promotion days: how much a new promotion lifts conversion is read from its own
    # hours anyway, and what each local hour adds to that level is known better from all
    # fourteen days than from the few that ran some other promotion (bench.detection,
    # seeds 100-107: promo_drops 74 -> 83 scopes found; false alerts over promo_drops,
    # normal, mixed and conversion_drop 18 -> 19)
    base = pooled(["scope", "hod", "state"]).with_columns(same_state=pl.lit(True))
    more = pooled(["scope", "hod"]).join(base, on=["hour", "scope"], how="anti")
    base = pl.concat([base, more.with_columns(same_state=pl.lit(False))])
    p = pl.col("base_buyers") / pl.col("base_visitors")
    return (
        base.with_columns(baseline_rate=p)
        .with_columns(
            baseline_var=pl.col("baseline_rate")
            * (1 - pl.col("baseline_rate"))
            * pl.col("spread")
            / pl.col("base_visitors") ** 2,
            # the visitors the hour usually has (for how much a promotion lifts traffic)
            baseline_visitors=pl.col("base_visitors") / pl.col("baseline_hours"),
            baseline_aov=pl.when(pl.col("base_buyers") > 0)
            .then(pl.col("base_gmv") / pl.col("base_buyers"))
            .otherwise(None),
        )
        .select(
            "hour",
            "scope",
            "baseline_rate",
            "baseline_var",
            "baseline_hours",
            "baseline_visitors",
            "baseline_aov",
            "rho",
            "tau2",
            "same_state",
        )
    )
