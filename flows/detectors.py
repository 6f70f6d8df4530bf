"""Detectors users would otherwise rely on (or could not beat), for conversion drops: a
static floor, a z-score on the same hour of the previous days, and a binomial test that
knows the simulator's true conversion rate (the oracle)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from flows.scoring import Sent, score
from simulator import Incident, Simulator
from transforms.off_promotion import SCOPE_LABEL
from transforms.rules import conversion_drop
from transforms.stats import effective_rho, lower_tail
from transforms.time import HOUR

__all__ = [
    "BASELINES",
    "episodes",
    "oracle_alerts",
    "oracle_pvalues",
    "oracle_sku_pvalues",
    "static_alerts",
    "zscore_alerts",
]

BASELINES = ("static", "zscore", "oracle")


def episodes(firing: pl.DataFrame) -> list[Sent]:
    """The first hour of each run of consecutive firing hours, per scope (`source`, and
    `scope` when the frame has it: the off-promotion SKUs)."""
    if SCOPE_LABEL not in firing.columns:
        firing = firing.with_columns(pl.lit(None, dtype=pl.String).alias(SCOPE_LABEL))
    frame = firing.sort(SCOPE_LABEL, "source", "hour", nulls_last=False)
    out: list[Sent] = []
    last: dict[tuple[str | None, str | None], datetime] = {}
    for hour, source, scope in frame.select("hour", "source", SCOPE_LABEL).iter_rows():
        previous = last.get((source, scope))
        if previous is None or hour - previous > HOUR:
            labels = {"source": source} if source else {}
            if scope:
                labels[SCOPE_LABEL] = scope
            out.append(Sent(conversion_drop.ALERTNAME, labels, hour))
        last[(source, scope)] = hour
    return out


def static_alerts(
    hourly: pl.DataFrame, start: datetime, *, fraction: float = 0.75, min_visitors: int = 100
) -> list[Sent]:
    """A fixed floor per scope, as a user would set it: `fraction` of the scope's median
    hourly conversion before `start`; fires whenever an hour is below it."""
    busy = hourly.filter(pl.col("visitors") >= min_visitors)
    floors = (
        busy.filter(pl.col("hour") < start)
        .group_by("source")
        .agg(floor=pl.col("rate").median() * fraction)
    )
    firing = (
        busy.filter(pl.col("hour") >= start)
        .join(floors, on="source", how="left", nulls_equal=True)
        .filter(pl.col("rate") < pl.col("floor"))
    )
    return episodes(firing)


def zscore_alerts(
    hourly: pl.DataFrame,
    start: datetime,
    tz: str,
    *,
    days: int = 14,
    sensitivity: float = 3.0,
    min_visitors: int = 100,
) -> list[Sent]:
    """Conversion more than `sensitivity` standard deviations under the mean of the same
    local hour over the previous `days` days."""
    local = pl.col("hour").dt.convert_time_zone(tz)
    frame = hourly.with_columns(hod=local.dt.hour(), day=local.dt.date())
    targets = frame.filter((pl.col("hour") >= start) & (pl.col("visitors") >= min_visitors))
    stats = (
        targets.select("hour", "source", "hod", target_day="day")
        .join(
            frame.select("source", "hod", "day", past="rate"),
            on=["source", "hod"],
            nulls_equal=True,
        )
        .filter(
            (pl.col("day") < pl.col("target_day"))
            & (pl.col("day") >= pl.col("target_day") - timedelta(days=days))
        )
        .group_by("hour", "source")
        .agg(mean=pl.col("past").mean(), std=pl.col("past").std(), n=pl.len())
    )
    firing = (
        targets.join(stats, on=["hour", "source"], nulls_equal=True)
        .filter((pl.col("n") >= 3) & (pl.col("std") > 0))
        .filter((pl.col("rate") - pl.col("mean")) / pl.col("std") < -sensitivity)
    )
    return episodes(firing)


def oracle_pvalues(
    hourly: pl.DataFrame, sim: Simulator, start: datetime, *, min_visitors: int = 100
) -> pl.DataFrame:
    """Binomial lower tail of each hour's buyers at the simulator's true conversion rate
    (without incidents): the best any detector could know about the hour."""
    frame = hourly.filter((pl.col("hour") >= start) & (pl.col("visitors") >= min_visitors))
    truth = [
        sim.true_conversion(hour, source, with_incidents=False)
        for hour, source in frame.select("hour", "source").iter_rows()
    ]
    tails = lower_tail(
        frame.get_column("buyers").to_numpy(), frame.get_column("visitors").to_numpy(), truth
    )
    return frame.select("hour", "source").with_columns(p_value=pl.Series(tails))


def oracle_sku_pvalues(
    frame: pl.DataFrame,
    sim: Simulator,
    start: datetime,
    sku_ids: list[str],
    scope: str,
    *,
    min_visitors: int = 100,
) -> pl.DataFrame:
    """The oracle's lower tail of a series of some SKUs' visitors and the distinct buyers
    of those SKUs (`frame`: hour, visitors, buyers), at the simulator's true expectation of
    those buyers and its variance (without incidents); rows labelled with `scope`."""
    rows = frame.filter((pl.col("hour") >= start) & (pl.col("visitors") >= min_visitors))
    moments = np.array(
        [sim.true_sku_buyers(hour, sku_ids) for hour in rows.get_column("hour")]
    ).reshape(-1, 2)
    n = rows.get_column("visitors").to_numpy().astype(np.float64)
    p = np.divide(moments[:, 0], n, out=np.zeros_like(n), where=n > 0)
    tails = lower_tail(
        rows.get_column("buyers").to_numpy(), n, p, effective_rho(n, p, moments[:, 1])
    )
    return rows.select(
        "hour",
        source=pl.lit(None, dtype=pl.String),
        p_value=pl.Series(tails, dtype=pl.Float64),
        **{SCOPE_LABEL: pl.lit(scope)},
    )


def oracle_alerts(
    pvalues: pl.DataFrame, truth: Sequence[Incident], start: datetime, end: datetime, fp: int
) -> tuple[list[Sent], float]:
    """The oracle's alerts at the most sensitive level that sends at most `fp` false
    conversion alerts on these hours (the same false-alert rate as the rule under test)."""
    best: tuple[list[Sent], float] = ([], 0.0)
    for alpha in np.logspace(-14, -0.3, 160):
        sent = episodes(pvalues.filter(pl.col("p_value") < alpha))
        scores, _ = score(sent, truth, start, end, rules=(conversion_drop.ALERTNAME,))
        if scores[conversion_drop.ALERTNAME].fp > fp:
            break
        best = (sent, float(alpha))
    return best
