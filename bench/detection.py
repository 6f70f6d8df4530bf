"""Conversion-drop detection on many seeds in seconds: the rule's statistics without the ETL.

`shoppulse evaluate` replays the whole pipeline (minutes per scenario); tuning the
conversion test needs hundreds of incidents. This reads the simulator's hourly visitors
and buyers per source directly (what mart.kpi_hourly_by_source holds after a load), runs
`transforms.conversion` over every hour at once (it reads only earlier hours for each),
and scores it and the baseline detectors with `flows.scoring.score`.

    python -m bench.detection --seeds 8 --scenario conversion_drop --scenario normal

Per scenario (and over all of them): incidents found, false alerts and false alerts per
shop-week (the 14 days after the baseline, per seed), median delay, our true positives as a
fraction of the oracle's at our false-alert count (÷oracle), and the goal classes; then the
30%/2 h/60-buyer class per promotion running at each drop's start. `--off-promotion` adds
conversion_drop's off-promotion scope (`rules.conversion_drop.off_promotion`): the SKUs
outside each set of running promotions, their visitors and the distinct buyers of their paid
lines (the simulator's orders), for the rule and for the oracle alike.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from flows.detectors import (
    episodes,
    oracle_alerts,
    oracle_pvalues,
    oracle_sku_pvalues,
    static_alerts,
    zscore_alerts,
)
from flows.scoring import RuleScore, Sent, goals, moderate_drop, score
from simulator import SOURCES, Incident, ShopSpec, Simulator
from transforms.conversion import (
    NEW_PROMO_FLOOR,
    NEW_PROMO_VAR,
    PROMO_VAR,
    WINDOWS,
    conversion_drop,
    conversion_scores,
    source_breakdown,
)
from transforms.off_promotion import OFF_PROMOTION, SCOPE_LABEL

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


@dataclass(frozen=True)
class OffPromotion:
    """The off-promotion series for one set of running promotions: the SKUs outside them,
    the hours (from the evaluated span) in which exactly that set runs, and per hour of the
    whole timeline those SKUs' visitors and the distinct buyers who paid for one of them,
    with the state of the other promotions running then (what
    sql/reads/rules_off_promotion_history reads from the warehouse)."""

    sku_ids: list[str]
    hours: pl.Series
    hourly: pl.DataFrame


def paid_lines(sim: Simulator) -> pl.DataFrame:
    """Every paid order line of the timeline: the hour it was paid in, its buyer and SKU."""
    frames = []
    for c in range(sim.clock.hours):
        batch = sim.batch(c)
        paid = batch.paid_ts >= 0
        frames.append(
            pl.DataFrame(
                {
                    "h": (batch.paid_ts[paid] - sim.clock.t0) // 3600,
                    "buyer": batch.buyer[paid],
                    "sku": batch.sku[paid],
                }
            )
        )
    return pl.concat(frames)


def off_promotion(sim: Simulator, start: datetime) -> list[OffPromotion]:
    """One OffPromotion per distinct set of promotions running in an evaluated hour that
    leaves some SKUs out of every promotion in it."""
    tl = sim.timeline
    instants = pl.Series(
        "hour", [sim.clock.instant(h).astimezone(UTC) for h in range(sim.clock.hours)]
    ).cast(TS)
    visitors = tl.visitors.sum(axis=1).astype(np.int64)
    sets: dict[frozenset[str], list[int]] = {}
    for h, running in enumerate(tl.active):
        if running and instants[h] >= start:
            sets.setdefault(frozenset(p.promo_id for p in running), []).append(h)
    lines = paid_lines(sim) if sets else pl.DataFrame()
    out = []
    for ids, hours in sets.items():
        promoted = np.zeros(visitors.shape[1], dtype=bool)
        for p in tl.active[hours[0]]:
            promoted[p.skus] = True
        if promoted.all():
            continue
        buyers = (
            lines.filter(~pl.col("sku").is_in(np.nonzero(promoted)[0].tolist()))
            .group_by("h")
            .agg(pl.col("buyer").n_unique())
        )
        per_hour = np.zeros(sim.clock.hours, dtype=np.int64)
        per_hour[buyers.get_column("h").to_numpy()] = buyers.get_column("buyer").to_numpy()
        state = [
            "+".join(sorted({p.kind for p in running if p.promo_id not in ids}))
            for running in tl.active
        ]
        frame = pl.DataFrame(
            {
                "hour": instants,
                "source": pl.Series([None] * len(instants), dtype=pl.String),
                "visitors": visitors[:, ~promoted].sum(axis=1),
                "buyers": per_hour,
                "promo_state": state,
            }
        ).with_columns(gmv=pl.col("buyers") * 100.0, in_promo=pl.col("promo_state") != "")
        sku_ids = [sim.catalog.sku_ids[k] for k in np.nonzero(~promoted)[0]]
        out.append(OffPromotion(sku_ids, instants.gather(hours), frame))
    return out


def ours(
    hourly: pl.DataFrame,
    start: datetime,
    tz: str,
    *,
    alpha: float,
    min_drop: float,
    windows: Sequence[int] = WINDOWS,
    promo_var: tuple[float, float] = (PROMO_VAR, NEW_PROMO_VAR),
    off: Sequence[OffPromotion] = (),
    new_promo_floor: float | None = NEW_PROMO_FLOOR,
) -> list[Sent]:
    """The rule's first notices, with the top source of each shop-wide alert (the shop's,
    and the off-promotion scope's of each set of running promotions in `off`)."""

    def scored(frame: pl.DataFrame, hours: pl.Series) -> pl.DataFrame:
        return conversion_scores(
            frame,
            hours,
            tz,
            min_drop=min_drop,
            windows=windows,
            promo_var=promo_var[0],
            new_promo_var=promo_var[1],
            new_promo_floor=new_promo_floor,
        )

    def firing(scores: pl.DataFrame, scope: str | None) -> pl.DataFrame:
        found = conversion_drop(scores, min_drop=min_drop, alpha=alpha)
        label = pl.lit(scope, dtype=pl.String).alias(SCOPE_LABEL)
        return found.select("hour", "source", "run_hours", label)

    scores = scored(hourly, hourly.filter(pl.col("hour") >= start).get_column("hour").unique())
    fired = pl.concat(
        [firing(scores, None)]
        + [firing(scored(group.hourly, group.hours), OFF_PROMOTION) for group in off]
    )
    sent = episodes(fired)
    for i, alert in enumerate(sent):
        if alert.labels not in ({}, {SCOPE_LABEL: OFF_PROMOTION}):
            continue
        row = fired.filter(
            pl.col("hour") == alert.hour,
            pl.col("source").is_null(),
            pl.col(SCOPE_LABEL).eq_missing(alert.labels.get(SCOPE_LABEL)),
        ).row(0, named=True)
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
    off_scope: bool = False,
    new_promo_floor: float | None = NEW_PROMO_FLOOR,
) -> None:
    """Score our rule and the baseline detectors on every (scenario, seed); print per
    scenario and overall, with recall as a fraction of the oracle's at our false-alert count,
    and the 30%/2 h/60-buyer class per promotion running at the drop's start."""
    tallies: dict[tuple[str, str], Tally] = {}
    by_promotion: dict[tuple[str, str, str], list[int]] = {}
    began = time.monotonic()

    def tally(
        scenario: str,
        name: str,
        sent: list[Sent],
        truth: list[Incident],
        start: datetime,
        end: datetime,
        promotion_at: Callable[[datetime], str],
    ) -> RuleScore:
        s, incidents = score(sent, truth, start, end, ("conversion_drop",))
        g = goals(incidents, sent, truth, 1)
        moderate = g["drop30_2h_60buyers"]
        for incident in incidents:
            if incident["alertname"] == "conversion_drop" and moderate_drop(incident["details"]):
                when = datetime.fromisoformat(incident["start"])
                counts = by_promotion.setdefault((scenario, promotion_at(when), name), [0, 0])
                counts[0] += 1
                counts[1] += int(incident["detected"])
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
            truth = [i for i in sim.truth(reviews=False) if i.alertname == "conversion_drop"]
            groups = off_promotion(sim, start) if off_scope else []

            def promotion_at(when: datetime, sim: Simulator = sim) -> str:
                """The names of the promotions running at `when`."""
                running = sim.timeline.active[sim.clock.hour_of(when.timestamp())]
                return " + ".join(p.name for p in running) or "no promotion"

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
                    off=groups,
                    new_promo_floor=new_promo_floor,
                )
                fps = tally(scenario, f"ours a={alpha:g}", sent, truth, start, end, promotion_at).fp
            # the oracle tests the same series: the off-promotion SKUs' at their true rate
            pvalues = pl.concat(
                [
                    oracle_pvalues(hourly, sim, start).with_columns(
                        pl.lit(None, dtype=pl.String).alias(SCOPE_LABEL)
                    )
                ]
                + [
                    oracle_sku_pvalues(
                        g.hourly.join(g.hours.to_frame(), on="hour", how="semi"),
                        sim,
                        start,
                        g.sku_ids,
                        OFF_PROMOTION,
                    )
                    for g in groups
                ]
            )
            for name, sent in (
                ("static", static_alerts(hourly, start)),
                ("zscore", zscore_alerts(hourly, start, tz)),
                ("oracle", oracle_alerts(pvalues, truth, start, end, fps)[0]),
            ):
                tally(scenario, name, sent, truth, start, end, promotion_at)
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
    print("-- 30%/2h/60b incident scopes found, per promotion running at the drop's start")
    for (scenario, promo, name), (total, found) in sorted(by_promotion.items()):
        if name != "static" and name != "zscore":
            print(f"{scenario:<16} {promo:<40} {name:<14} {found}/{total}")


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
    parser.add_argument(
        "--off-promotion",
        action="store_true",
        help="test the SKUs outside the running promotions as a scope of their own, as"
        " rules.conversion_drop.off_promotion does (the oracle tests them too)",
    )
    parser.add_argument(
        "--new-promo-floor",
        type=float,
        default=NEW_PROMO_FLOOR,
        help="the least prior variance of a new kind's uplift when it barely lifts traffic"
        " (its traffic lift squared above it); negative: the prior ignores traffic",
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
        args.off_promotion,
        args.new_promo_floor if args.new_promo_floor >= 0 else None,
    )


if __name__ == "__main__":
    main()
