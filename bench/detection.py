"""Conversion-drop detection on many seeds in seconds: the rule's statistics without the ETL.

`shoppulse evaluate` replays the whole pipeline (minutes per scenario); tuning the
conversion test needs hundreds of incidents. This reads the simulator's hourly visitors
and buyers per source directly (what mart.kpi_hourly_by_source holds after a load), runs
`transforms.conversion` over every hour at once (it reads only earlier hours for each),
and scores it and the baseline detectors with `flows.scoring.score`.

    python -m bench.detection --seeds 8 --scenario conversion_drop --scenario normal

Per scenario (and over all of them): incidents found, false alerts and false alerts per
shop-week (the 14 days after the baseline, per seed), median delay, our true positives as a
fraction of the oracle's at our false-alert count (÷oracle), and the goal classes.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from flows.detectors import episodes, oracle_alerts, oracle_pvalues, static_alerts, zscore_alerts
from flows.scoring import RuleScore, Sent, goals, score
from simulator import SOURCES, Incident, ShopSpec, Simulator
from transforms.conversion import (
    NEW_PROMO_VAR,
    PROMO_VAR,
    WINDOWS,
    conversion_drop,
    conversion_scores,
    source_breakdown,
)

TS = pl.Datetime("us", "UTC")


def hourly_frame(sim: Simulator) -> pl.DataFrame:
    """Shop and per-source visitors, buyers and promotion state of every simulated hour."""
    tl = sim.timeline
    hours = pl.Series(
        "hour", [sim.clock.instant(h).astimezone(UTC) for h in range(sim.clock.hours)]
    ).cast(TS)
    n = len(SOURCES)
    per_source = pl.DataFrame(
        {
            "hour": hours.to_frame().select(pl.col("hour").repeat_by(n).explode()).to_series(),
            "source": list(SOURCES) * sim.clock.hours,
            "visitors": tl.visitors.sum(axis=2).ravel().astype(np.int64),
            "buyers": tl.buyers.ravel().astype(np.int64),
            "in_promo": np.repeat([bool(a) for a in tl.active], n),
            "promo_state": np.repeat(["+".join(sorted({p.kind for p in a})) for a in tl.active], n),
        }
    ).with_columns(gmv=pl.col("buyers") * 100.0)
    shop = (
        per_source.group_by("hour")
        .agg(
            pl.col("visitors").sum(),
            pl.col("buyers").sum(),
            pl.col("gmv").sum(),
            pl.col("in_promo").first(),
            pl.col("promo_state").first(),
        )
        .with_columns(source=pl.lit(None, dtype=pl.String))
    )
    return pl.concat([per_source, shop.select(per_source.columns)]).with_columns(
        rate=pl.col("buyers") / pl.col("visitors")
    )


def ours(
    hourly: pl.DataFrame,
    start: datetime,
    tz: str,
    *,
    alpha: float,
    min_drop: float,
    windows: Sequence[int] = WINDOWS,
    promo_var: tuple[float, float] = (PROMO_VAR, NEW_PROMO_VAR),
) -> list[Sent]:
    """The rule's first notices, with the top source of each shop-wide alert."""
    hours = hourly.filter(pl.col("hour") >= start).get_column("hour").unique().sort()
    scores = conversion_scores(
        hourly,
        hours,
        tz,
        min_drop=min_drop,
        windows=windows,
        promo_var=promo_var[0],
        new_promo_var=promo_var[1],
    )
    found = conversion_drop(scores, min_drop=min_drop, alpha=alpha)
    firing = found.select("hour", "source")
    sent = episodes(firing)
    for i, alert in enumerate(sent):
        if alert.labels:
            continue
        row = found.filter(pl.col("hour") == alert.hour, pl.col("source").is_null()).row(
            0, named=True
        )
        causes = source_breakdown(scores, alert.hour, min(int(row["run_hours"]), 3))
        if causes.height:
            top = str(causes.item(0, "source"))
            sent[i] = Sent(alert.alertname, alert.labels, alert.hour, {"top_source": top})
    return sent


@dataclass
class Tally:
    """One detector's counts on one scenario, over all seeds."""

    score: RuleScore = field(default_factory=RuleScore)
    shop_weeks: float = 0.0
    moderate: list[int] = field(default_factory=lambda: [0, 0, 0])  # incidents, found, by 2nd h
    delays: list[float] = field(default_factory=list)
    large: list[int] = field(default_factory=lambda: [0, 0])  # incidents, caught in 1st hour
    single: list[int] = field(default_factory=lambda: [0, 0])  # incidents, attributed

    def line(self, name: str, oracle: Tally | None) -> str:
        s, m, big, one = self.score, self.moderate, self.large, self.single
        ratio = f"{s.tp / oracle.score.tp:.2f}" if oracle and oracle.score.tp else "-"
        return (
            f"{name:<14} incidents {s.incidents:>4} tp {s.tp:>4} fp {s.fp:>4}"
            f" fp/shop-week {s.fp / max(self.shop_weeks, 1e-9):.2f}"
            f" recall {s.recall or 0:.2f} median delay {s.median_delay or 0:.1f}"
            f" ÷oracle {ratio}"
            f" | 30%/2h/60b found {m[1]}/{m[0]}, by 2nd hour {m[2]}/{m[0]},"
            f" median delay {statistics.median(self.delays or [0]):.1f}"
            f" | 40%/100b 1st hour {big[1]}/{big[0]} | single source {one[1]}/{one[0]}"
        )


def run(
    scenarios: Sequence[str],
    seeds: int,
    alphas: Sequence[float],
    min_drop: float,
    spec: ShopSpec,
    windows: Sequence[int] = WINDOWS,
    promo_var: tuple[float, float] = (PROMO_VAR, NEW_PROMO_VAR),
    first_seed: int = 0,
) -> None:
    """Score our rule and the baseline detectors on every (scenario, seed); print per
    scenario and overall, with recall as a fraction of the oracle's at our false-alert count."""
    tallies: dict[tuple[str, str], Tally] = {}
    began = time.monotonic()

    def tally(
        scenario: str,
        name: str,
        sent: list[Sent],
        truth: list[Incident],
        start: datetime,
        end: datetime,
    ) -> RuleScore:
        s, incidents = score(sent, truth, start, end, ("conversion_drop",))
        g = goals(incidents, sent, truth, 1)
        moderate = g["drop30_2h_60buyers"]
        large = g["drop40_100buyers_first_hour"]
        single = g["single_source_attributed"]
        for key in ((scenario, name), ("all", name)):
            t = tallies.setdefault(key, Tally())
            t.score.add(s["conversion_drop"])
            t.shop_weeks += (end - start) / timedelta(days=7)
            t.moderate[0] += moderate["incidents"]
            t.moderate[1] += moderate["found"]
            t.moderate[2] += moderate["by_second_hour"]
            t.delays.extend(moderate["delays"])
            t.large[0] += large["incidents"]
            t.large[1] += large["caught_in_first_hour"]
            t.single[0] += single["incidents"]
            t.single[1] += single["attributed"]
        return s["conversion_drop"]

    for scenario in scenarios:
        for seed in range(first_seed, first_seed + seeds):
            sim = Simulator(scenario, seed, spec)
            tz = sim.spec.timezone
            start = sim.clock.instant(14 * 24).astimezone(UTC)
            end = sim.spec.end.astimezone(UTC)
            hourly = hourly_frame(sim)
            truth = [i for i in sim.truth() if i.alertname == "conversion_drop"]
            fps = 0
            for alpha in alphas:
                sent = ours(
                    hourly,
                    start,
                    tz,
                    alpha=alpha,
                    min_drop=min_drop,
                    windows=windows,
                    promo_var=promo_var,
                )
                fps = tally(scenario, f"ours a={alpha:g}", sent, truth, start, end).fp
            pvalues = oracle_pvalues(hourly, sim, start)
            for name, sent in (
                ("static", static_alerts(hourly, start)),
                ("zscore", zscore_alerts(hourly, start, tz)),
                ("oracle", oracle_alerts(pvalues, truth, start, end, fps)[0]),
            ):
                tally(scenario, name, sent, truth, start, end)
    print(
        f"{len(scenarios)} scenario(s) x {seeds} seed(s) from {first_seed},"
        f" {time.monotonic() - began:.0f}s"
    )
    for scenario in [*scenarios, "all"] if len(scenarios) > 1 else scenarios:
        print(f"-- {scenario}")
        oracle = tallies.get((scenario, "oracle"))
        for (where, name), t in tallies.items():
            if where == scenario:
                print(t.line(name, oracle))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenario", action="append", default=None)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="seeds first-seed .. first-seed + seeds - 1 (tune on other seeds than you report)",
    )
    parser.add_argument("--alpha", type=float, action="append", default=None)
    parser.add_argument("--min-drop", type=float, default=0.25)
    parser.add_argument(
        "--windows", default=",".join(map(str, WINDOWS)), help="window lengths, e.g. 1,2,3,6"
    )
    parser.add_argument("--visitors-per-day", type=int, default=ShopSpec().visitors_per_day)
    parser.add_argument(
        "--promo-var",
        type=float,
        default=PROMO_VAR,
        help="prior relative variance of a promotion's uplift, a kind the baseline ran",
    )
    parser.add_argument(
        "--new-promo-var",
        type=float,
        default=NEW_PROMO_VAR,
        help="the same for a kind the baseline days never ran",
    )
    args = parser.parse_args()
    spec = ShopSpec(visitors_per_day=args.visitors_per_day)
    run(
        args.scenario or ["conversion_drop"],
        args.seeds,
        args.alpha or [0.001],
        args.min_drop,
        spec,
        tuple(int(w) for w in args.windows.split(",")),
        (args.promo_var, args.new_promo_var),
        args.first_seed,
    )


if __name__ == "__main__":
    main()
