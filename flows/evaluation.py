"""`shoppulse evaluate`: replay a simulated scenario hour by hour and score the alerts.

The replay is the hourly schedule in-process: for each hour, the run's steps (plan the
windows, load each dataset, refresh the marts) up to the hour's end, then
`evaluate_and_dispatch` in record mode for the hour just closed, so nothing later than
that hour is read. The export source is the simulator itself
(`simulator.source.SimulatorSource`: the same records and faults as its HTTP API, without
sleeping through retry back-off). The first `warmup_days` are loaded in one run: they are
the rules' baseline, and the scenarios place their incidents after them.

One shortcut keeps a month's replay in minutes on a small machine: each run refreshes the
marts only for the touched hours inside its lookback window, not the older hours whose
order lines changed status (shipping, refunds). Those older hours only change their
cancellation and refund columns, which no rule reads from the marts (the rules compute the
evaluated hour's own KPIs from core as of its end), so the alerts are the same.

What would have been sent (each alert's first notice of an episode) is matched to the
simulator's ground truth per rule: true and false positives, misses, precision, recall and
detection delay. Three detectors users would otherwise rely on (or could not beat) are
scored on the same hours for conversion drops: a static threshold, a z-score on the same
hour of the previous 14 days, and a binomial test that knows the true conversion rate.
"""

from __future__ import annotations

import json
import tempfile
import time
from contextlib import ExitStack, closing
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from flows.detectors import (
    oracle_alerts,
    oracle_pvalues,
    oracle_sku_pvalues,
    static_alerts,
    zscore_alerts,
)
from flows.pipeline import finish_run, load_window, plan_windows, run_hour, start_run
from flows.rules_runner import evaluate_and_dispatch
from flows.scoring import RuleScore, Sent, goals, score
from flows.settings import Settings, parse_settings
from flows.warehouse import Warehouse, read_sql
from flows.warehouse.coverage import kpi_needs
from flows.warehouse.marts import refresh_marts
from simulator import Incident, ShopSpec, Simulator
from simulator.shopify import ShopifyServer
from sources import ExportSource, make_source
from sources.simulated import SimulatorSource
from transforms.off_promotion import OFF_PROMOTION, SCOPE_LABEL
from transforms.rules import conversion_drop
from transforms.time import HOUR

__all__ = ["Evaluation", "evaluate_scenario", "format_report", "replay"]


@dataclass
class Evaluation:
    """One replay: what was sent, the truth, the scores and the goal measurements."""

    scenario: str
    seed: int
    spec: ShopSpec
    start: datetime
    end: datetime
    sent: list[Sent]
    truth: list[Incident]
    rules: dict[str, RuleScore]
    baselines: dict[str, RuleScore]
    goals: dict[str, Any]
    incidents: list[dict[str, Any]]
    seconds: float = 0.0

    @property
    def hours(self) -> int:
        return int((self.end - self.start) / HOUR)

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "seed": self.seed,
            "shop": {
                "skus": self.spec.skus,
                "visitors_per_day": self.spec.visitors_per_day,
                "days": self.spec.days,
            },
            "evaluated": {
                "start": self.start.isoformat(),
                "end": self.end.isoformat(),
                "hours": self.hours,
            },
            "rules": {name: s.to_json() for name, s in self.rules.items()},
            "baselines": {name: s.to_json() for name, s in self.baselines.items()},
            "goals": self.goals,
            "incidents": self.incidents,
            "alerts": [s.to_json() for s in self.sent],
            "seconds": round(self.seconds, 1),
        }


SHOPIFY_TOKEN = "evaluate-token-loopback-only"

# -- replay --------------------------------------------------------------------------------


def _settings(
    path: Path,
    sim: Simulator,
    lookback_hours: int,
    shopify_url: str | None = None,
    off_promotion: bool = False,
) -> Settings:
    # the export source is never contacted: the replay reads the simulator in-process
    source: dict[str, Any] = {"base_url": "http://127.0.0.1:9", "lookback_hours": lookback_hours}
    if shopify_url is not None:
        source = {
            "kind": "shopify",
            "shop": "sim-shop.myshopify.com",
            "access_token": SHOPIFY_TOKEN,
            "base_url": shopify_url,
            "lookback_hours": lookback_hours,
        }
    return parse_settings(
        {
            "shop": {"name": f"sim-{sim.scenario.name}", "timezone": sim.spec.timezone},
            "source": source,
            "warehouse": {"path": str(path)},
            "rules": {conversion_drop.ALERTNAME: {"off_promotion": off_promotion}},
        },
        env={},
    )


def _sent(wh: Warehouse) -> list[Sent]:
    rows = wh.rows(
        "select alertname, labels, hour, annotations from ops.alerts"
        " where notify = 'firing' order by hour, alertname, fingerprint"
    )
    out = []
    for alertname, labels, hour, notes in rows:
        scope = {
            k: v
            for k, v in json.loads(labels).items()
            if k not in ("alertname", "severity", "shop")
        }
        out.append(Sent(alertname, scope, hour.astimezone(UTC), json.loads(notes)))
    return out


def replay(
    sim: Simulator,
    path: Path,
    *,
    warmup_days: int = 14,
    lookback_hours: int = 3,
    progress: Any = None,
    api: str = "export",
    off_promotion: bool = False,
) -> tuple[list[Sent], datetime, datetime, Warehouse]:
    """Run the pipeline and the rules hour by hour over the simulator's timeline.

    Returns what would have been sent, the evaluated span and the (open) warehouse. With
    `api="shopify"` the shop is read through the Shopify source from the simulator's Shopify
    emulation on loopback (no throttle: the replay measures detection, not rate limits).
    """
    with ExitStack() as stack:
        store: ShopifyServer | None = None
        source: ExportSource
        if api == "shopify":
            store = ShopifyServer(sim, token=SHOPIFY_TOKEN, maximum=1e12, restore_rate=1e12)
            stack.enter_context(store)
            settings = _settings(path, sim, lookback_hours, store.base_url, off_promotion)
            source = stack.enter_context(closing(make_source(settings.source)))
        else:
            settings = _settings(path, sim, lookback_hours, off_promotion=off_promotion)
            source = SimulatorSource(sim)
        return _replay(sim, path, settings, source, store, warmup_days, lookback_hours, progress)


def _replay(
    sim: Simulator,
    path: Path,
    settings: Settings,
    source: ExportSource,
    store: ShopifyServer | None,
    warmup_days: int,
    lookback_hours: int,
    progress: Any,
) -> tuple[list[Sent], datetime, datetime, Warehouse]:
    start = sim.clock.instant(min(warmup_days * 24, sim.clock.hours - 1)).astimezone(UTC)
    end = sim.spec.end.astimezone(UTC)
    wh = Warehouse(path)
    warm = settings.model_copy(
        update={
            "source": settings.source.model_copy(
                update={"lookback_hours": warmup_days * 24 + lookback_hours}
            )
        }
    )
    if store is not None:
        store.emulator.set_now(start)
    run_hour(wh, warm, source, start)
    total = int((end - start) / HOUR)
    recent = timedelta(hours=lookback_hours + 1)
    for i in range(total):
        until = start + HOUR * (i + 1)
        if store is not None:
            store.emulator.set_now(until)
        run = start_run(wh, until)
        for window in plan_windows(wh, settings, until, source.provides):
            load_window(wh, source, run, window)
        touched = run.touched
        with wh.transaction():
            run.hours_refreshed = refresh_marts(
                wh,
                settings.shop.timezone,
                touched.filter(touched >= until - recent),
                covered=run.covered_hours,
                needs=kpi_needs(settings.source.datasets),
            )
        finish_run(wh, run)
        evaluate_and_dispatch(wh, settings, until - HOUR, mode="record", now=until)
        if progress is not None:
            progress(i + 1, total)
    return _sent(wh), start, end, wh


def _hourly(wh: Warehouse, start: datetime, end: datetime) -> pl.DataFrame:
    frame = wh.frame(
        read_sql("reads/rules_kpi_history"), {"start": start, "end": end, "as_of": end}
    )
    return frame.with_columns(pl.col("hour").cast(pl.Datetime("us", "UTC"))).with_columns(
        rate=pl.col("buyers") / pl.col("visitors")
    )


def _off_promotion_pvalues(
    wh: Warehouse, sim: Simulator, start: datetime, end: datetime
) -> pl.DataFrame:
    """The oracle's tails of the off-promotion series the rule tested: for each set of
    promotions running in an evaluated hour that leaves SKUs out, those SKUs' hours as the
    warehouse holds them, at the simulator's true rate."""
    # the promoted SKUs of each set of running promotions, and the hours it ran
    sets: dict[frozenset[str], tuple[set[str], list[datetime]]] = {}
    for h, running in enumerate(sim.timeline.active):
        at = sim.clock.instant(h).astimezone(UTC)
        if running and start <= at < end:
            ids = frozenset(p.promo_id for p in running)
            if ids not in sets:
                sets[ids] = ({sim.catalog.sku_ids[s] for p in running for s in p.skus}, [])
            sets[ids][1].append(at)
    parts = []
    for ids, (promoted, hours) in sets.items():
        off = [s for s in sim.catalog.sku_ids if s not in promoted]
        if not off:
            continue
        frame = wh.frame(
            read_sql("reads/rules_off_promotion_history"),
            {
                "start": hours[0],
                "end": hours[-1] + HOUR,
                "as_of": end,
                "skus": sorted(promoted),
                "promo_ids": sorted(ids),
            },
        ).with_columns(pl.col("hour").cast(pl.Datetime("us", "UTC")))
        wanted = pl.Series("hour", hours, dtype=pl.Datetime("us", "UTC")).implode()
        parts.append(
            oracle_sku_pvalues(
                frame.filter(pl.col("hour").is_in(wanted)), sim, start, off, OFF_PROMOTION
            )
        )
    return pl.concat(parts) if parts else pl.DataFrame()


# -- entry point ---------------------------------------------------------------------------


def evaluate_scenario(
    scenario: str,
    seed: int = 0,
    *,
    days: int = 28,
    skus: int | None = None,
    visitors_per_day: int | None = None,
    warmup_days: int = 14,
    lookback_hours: int = 3,
    workdir: Path | None = None,
    progress: Any = None,
    api: str = "export",
    off_promotion: bool = False,
) -> Evaluation:
    """Replay `scenario` with `seed` and score the alerts it would have sent
    (`off_promotion`: with conversion_drop's off-promotion scope, for the oracle too)."""
    began = time.monotonic()
    base = ShopSpec()
    spec = replace(
        base,
        days=days,
        skus=skus or base.skus,
        visitors_per_day=visitors_per_day or base.visitors_per_day,
    )
    sim = Simulator(scenario, seed, spec)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        sent, start, end, wh = replay(
            sim,
            Path(tmp) / "replay.duckdb",
            warmup_days=warmup_days,
            lookback_hours=lookback_hours,
            progress=progress,
            api=api,
            off_promotion=off_promotion,
        )
        try:
            hourly = _hourly(wh, sim.clock.instant(0).astimezone(UTC), end)
            off_pvalues = (
                _off_promotion_pvalues(wh, sim, start, end) if off_promotion else pl.DataFrame()
            )
        finally:
            wh.close()
    truth = sim.truth()
    rules, incidents = score(sent, truth, start, end)
    ours = rules[conversion_drop.ALERTNAME]
    static, _ = score(static_alerts(hourly, start), truth, start, end, (conversion_drop.ALERTNAME,))
    zscore, _ = score(
        zscore_alerts(hourly, start, spec.timezone), truth, start, end, (conversion_drop.ALERTNAME,)
    )
    # the oracle tests the same series as the rule: the shop, each source, and the SKUs
    # outside the running promotions
    pvalues = oracle_pvalues(hourly, sim, start).with_columns(
        pl.lit(None, dtype=pl.String).alias(SCOPE_LABEL)
    )
    pvalues = pl.concat([pvalues, off_pvalues], how="diagonal_relaxed")
    oracle_sent, alpha = oracle_alerts(pvalues, truth, start, end, ours.fp)
    oracle, _ = score(oracle_sent, truth, start, end, (conversion_drop.ALERTNAME,))
    measured = goals(incidents, sent, truth, int((end - start) / HOUR))
    measured["oracle_alpha"] = alpha
    measured["false_alerts"] = sum(s.fp for s in rules.values())
    return Evaluation(
        scenario=scenario,
        seed=seed,
        spec=spec,
        start=start,
        end=end,
        sent=sent,
        truth=truth,
        rules=rules,
        baselines={
            "static": static[conversion_drop.ALERTNAME],
            "zscore": zscore[conversion_drop.ALERTNAME],
            "oracle": oracle[conversion_drop.ALERTNAME],
        },
        goals=measured,
        incidents=incidents,
        seconds=time.monotonic() - began,
    )


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_report(evaluation: Evaluation) -> str:
    """The per-rule table and the conversion baselines, as plain text."""
    e = evaluation
    lines = [
        f"scenario {e.scenario}, seed {e.seed}: {e.hours} hours evaluated"
        f" ({e.start.isoformat()} to {e.end.isoformat()}), {len(e.sent)} alerts sent,"
        f" {e.seconds:.0f}s",
        "",
        f"{'rule':<18}{'incidents':>10}{'TP':>5}{'FP':>5}{'FN':>5}{'precision':>11}"
        f"{'recall':>8}{'median delay h':>16}",
    ]

    def row(name: str, s: RuleScore) -> str:
        return (
            f"{name:<18}{s.incidents:>10}{s.tp:>5}{s.fp:>5}{s.fn:>5}{_fmt(s.precision):>11}"
            f"{_fmt(s.recall):>8}{_fmt(s.median_delay, 1):>16}"
        )

    lines += [row(name, s) for name, s in e.rules.items()]
    lines += ["", f"{conversion_drop.ALERTNAME} against other detectors:"]
    lines.append(row("ours", e.rules[conversion_drop.ALERTNAME]))
    lines += [row(name, s) for name, s in e.baselines.items()]
    ours, limit = e.rules[conversion_drop.ALERTNAME].recall, e.baselines["oracle"].recall
    if ours is not None and limit:
        lines.append(f"our recall / oracle recall: {ours / limit:.2f}")
    g = e.goals
    lines += [
        "",
        f"false alerts (all rules): {g['false_alerts']} over {g['weeks']:.1f} shop-weeks;"
        f" conversion/cancel alerts judged on a window holding an export-gap hour:"
        f" {g['alerts_on_gap_hours']}",
    ]
    return "\n".join(lines)
