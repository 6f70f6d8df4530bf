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
import statistics
import tempfile
import time
from collections.abc import Iterable, Sequence
from contextlib import ExitStack, closing
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from flows.pipeline import finish_run, load_window, plan_windows, run_hour, start_run
from flows.rules_runner import evaluate_and_dispatch
from flows.settings import Settings, parse_settings
from flows.warehouse import Warehouse, read_sql
from flows.warehouse.coverage import kpi_needs
from flows.warehouse.marts import refresh_marts
from simulator import Incident, ShopSpec, Simulator
from simulator.shopify import ShopifyServer
from sources import ExportSource, make_source
from sources.simulated import SimulatorSource
from transforms.conversion import WINDOWS
from transforms.rules import RULES as RULE_REGISTRY
from transforms.rules import (
    cancel_spike,
    conversion_drop,
    data_gap,
    late_shipping,
    low_stock_promo,
    promo_audit,
)
from transforms.stats import lower_tail
from transforms.time import HOUR

__all__ = [
    "BASELINES",
    "Evaluation",
    "RuleScore",
    "Sent",
    "evaluate_scenario",
    "format_report",
    "oracle_alerts",
    "score",
    "static_alerts",
    "zscore_alerts",
]

RULES = tuple(r.alertname for r in RULE_REGISTRY)
BASELINES = ("static", "zscore", "oracle")
# how early before an incident's start, and how late after its end, an alert still counts
LEAD = {
    low_stock_promo.ALERTNAME: timedelta(hours=6),
    promo_audit.ALERTNAME: timedelta(hours=2),
    # at-risk orders are warned of before their promise passes
    late_shipping.ALERTNAME: timedelta(hours=6),
}
GRACE = timedelta(hours=2)
WEEK_HOURS = 168
# the rules a gap inhibits, and how many hours back their longest window reads: an alert is
# caused by a gap when any window it was judged on holds a gap hour (3-hour windows: up to
# the gap's end + 2 h)
GAP_INHIBITED = (conversion_drop.ALERTNAME, cancel_spike.ALERTNAME)
GAP_REACH = HOUR * max(*WINDOWS, cancel_spike.WINDOW_HOURS)


@dataclass(frozen=True)
class Sent:
    """An alert's first notice in an episode: what the team would have received."""

    alertname: str
    labels: dict[str, str]
    hour: datetime
    annotations: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "alertname": self.alertname,
            "labels": self.labels,
            "hour": self.hour.isoformat(),
            "summary": self.annotations.get("summary", ""),
        }


@dataclass
class RuleScore:
    """Detection quality of one rule (or one baseline detector) on one replay."""

    incidents: int = 0
    tp: int = 0
    fn: int = 0
    alerts: int = 0
    fp: int = 0
    delays: list[float] = field(default_factory=list)

    @property
    def precision(self) -> float | None:
        return (self.alerts - self.fp) / self.alerts if self.alerts else None

    @property
    def recall(self) -> float | None:
        return self.tp / self.incidents if self.incidents else None

    @property
    def median_delay(self) -> float | None:
        return statistics.median(self.delays) if self.delays else None

    def add(self, other: RuleScore) -> None:
        self.incidents += other.incidents
        self.tp += other.tp
        self.fn += other.fn
        self.alerts += other.alerts
        self.fp += other.fp
        self.delays += other.delays

    def to_json(self) -> dict[str, Any]:
        return {
            "incidents": self.incidents,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "alerts": self.alerts,
            "precision": self.precision,
            "recall": self.recall,
            "median_delay_hours": self.median_delay,
        }


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
    path: Path, sim: Simulator, lookback_hours: int, shopify_url: str | None = None
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
            settings = _settings(path, sim, lookback_hours, store.base_url)
            source = stack.enter_context(closing(make_source(settings.source)))
        else:
            settings = _settings(path, sim, lookback_hours)
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


# -- matching ------------------------------------------------------------------------------


def _covers(sent: Sent, incident: Incident) -> bool:
    """Whether the alert's scope labels include the incident's (a shop-wide incident
    explains an alert on one of its sources)."""
    return all(sent.labels.get(k) == v for k, v in incident.labels.items())


def _credits(sent: Sent, incident: Incident) -> bool:
    """Whether the alert reports this incident in its own scope (or, for a drop in one
    source, a shop-wide alert naming that source as the top root cause)."""
    if sent.labels == incident.labels:
        return True
    source = incident.labels.get("source")
    return (
        incident.alertname == conversion_drop.ALERTNAME
        and source is not None
        and set(incident.labels) == {"source"}
        and not sent.labels
        and sent.annotations.get("top_source") == source
    )


def _in_time(sent: Sent, incident: Incident) -> bool:
    lead = LEAD.get(incident.alertname, timedelta(0))
    start = incident.start.astimezone(UTC) - lead
    return start <= sent.hour < incident.end.astimezone(UTC) + GRACE


def score(
    sent: Sequence[Sent],
    truth: Sequence[Incident],
    start: datetime,
    end: datetime,
    rules: Iterable[str] = RULES,
) -> tuple[dict[str, RuleScore], list[dict[str, Any]]]:
    """Per rule: incidents in [start, end), detected or missed, and alerts that match none.

    An incident is detected by an alert of its rule, in its scope, sent between its start
    (minus the rule's lead) and its end plus GRACE; the delay is the end of the alert's
    hour minus the incident's start. An alert is false when no incident of its rule
    explains it (its scope covering the incident's, at that time).
    """
    scores: dict[str, RuleScore] = {name: RuleScore() for name in rules}
    details = []
    live = [i for i in truth if i.end.astimezone(UTC) > start and i.start.astimezone(UTC) < end]
    for incident in live:
        s = scores.setdefault(incident.alertname, RuleScore())
        s.incidents += 1
        hits = sorted(
            (
                a.hour
                for a in sent
                if a.alertname == incident.alertname
                and _credits(a, incident)
                and _in_time(a, incident)
            ),
        )
        first = hits[0] if hits else None
        delay = (first + HOUR - incident.start.astimezone(UTC)) / HOUR if first else None
        if first is not None:
            s.tp += 1
            s.delays.append(delay)  # type: ignore[arg-type]
        else:
            s.fn += 1
        details.append(
            {
                "alertname": incident.alertname,
                "labels": incident.labels,
                "start": incident.start.isoformat(),
                "end": incident.end.isoformat(),
                "detected": first is not None,
                "delay_hours": delay,
                "first_alert": first.isoformat() if first else None,
                "details": incident.details,
            }
        )
    for alert in sent:
        s = scores.setdefault(alert.alertname, RuleScore())
        s.alerts += 1
        explained = any(
            i.alertname == alert.alertname
            and _in_time(alert, i)
            and (
                _covers(alert, i)
                or _credits(alert, i)
                # a source's drop lowers the shop's conversion too
                or (alert.alertname == conversion_drop.ALERTNAME and not alert.labels)
            )
            for i in live
        )
        if not explained:
            s.fp += 1
    return scores, details


# -- baseline detectors (conversion) ---------------------------------------------------------


def _episodes(firing: pl.DataFrame) -> list[Sent]:
    """The first hour of each run of consecutive firing hours, per scope."""
    frame = firing.sort("source", "hour", nulls_last=False)
    out: list[Sent] = []
    last: dict[str | None, datetime] = {}
    for hour, source in frame.select("hour", "source").iter_rows():
        previous = last.get(source)
        if previous is None or hour - previous > HOUR:
            out.append(Sent(conversion_drop.ALERTNAME, {"source": source} if source else {}, hour))
        last[source] = hour
    return out


def _hourly(wh: Warehouse, start: datetime, end: datetime) -> pl.DataFrame:
    frame = wh.frame(
        read_sql("reads/rules_kpi_history"), {"start": start, "end": end, "as_of": end}
    )
    return frame.with_columns(pl.col("hour").cast(pl.Datetime("us", "UTC"))).with_columns(
        rate=pl.col("buyers") / pl.col("visitors")
    )


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
    return _episodes(firing)


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
    return _episodes(firing)


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


def oracle_alerts(
    pvalues: pl.DataFrame, truth: Sequence[Incident], start: datetime, end: datetime, fp: int
) -> tuple[list[Sent], float]:
    """The oracle's alerts at the most sensitive level that sends at most `fp` false
    conversion alerts on these hours (the same false-alert rate as the rule under test)."""
    best: tuple[list[Sent], float] = ([], 0.0)
    for alpha in np.logspace(-14, -0.3, 160):
        sent = _episodes(pvalues.filter(pl.col("p_value") < alpha))
        scores, _ = score(sent, truth, start, end, rules=(conversion_drop.ALERTNAME,))
        if scores[conversion_drop.ALERTNAME].fp > fp:
            break
        best = (sent, float(alpha))
    return best


# -- goals ---------------------------------------------------------------------------------


def _expected_buyers(details: dict[str, Any]) -> float:
    return float(details.get("expected_visitors_per_hour", 0)) * float(
        details.get("baseline_conversion", 0)
    )


def _after_gap(alert: Sent, gaps: Sequence[Incident]) -> bool:
    """Whether a window the alert's hour was judged on (the GAP_REACH hours ending with
    it) holds an hour of one of the gaps."""
    return any(
        g.start.astimezone(UTC) <= alert.hour < g.end.astimezone(UTC) + GAP_REACH - HOUR
        for g in gaps
    )


def goals(
    incidents: list[dict[str, Any]],
    sent: Sequence[Sent],
    truth: Sequence[Incident],
    hours: int,
) -> dict[str, Any]:
    """The measurements issue 7's goals speak of, on this replay."""
    drops = [i for i in incidents if i["alertname"] == conversion_drop.ALERTNAME]
    moderate = [
        i
        for i in drops
        if i["details"].get("drop", 0) >= 0.3
        and i["details"].get("hours", 0) >= 2
        and _expected_buyers(i["details"]) >= 60
    ]
    large = [
        i
        for i in drops
        if i["details"].get("drop", 0) >= 0.4 and _expected_buyers(i["details"]) >= 100
    ]
    single = [i for i in drops if i["labels"].get("source") and not i["details"].get("derived")]
    stockouts = [
        i
        for i in incidents
        if i["alertname"] == low_stock_promo.ALERTNAME and i["details"].get("sold_out_at")
    ]

    def lead(i: dict[str, Any]) -> float | None:
        if not i["first_alert"]:
            return None
        sold = datetime.fromisoformat(i["details"]["sold_out_at"])
        first = datetime.fromisoformat(i["first_alert"])
        return (sold - (first + HOUR)) / HOUR

    leads = [lead(i) for i in stockouts]
    gaps = [i for i in truth if i.alertname == data_gap.ALERTNAME]
    gap_alerts = [a for a in sent if a.alertname in GAP_INHIBITED and _after_gap(a, gaps)]
    delays = [i["delay_hours"] for i in moderate if i["delay_hours"] is not None]
    return {
        "drop30_2h_60buyers": {
            "incidents": len(moderate),
            "found": sum(i["detected"] for i in moderate),
            "recall": sum(i["detected"] for i in moderate) / len(moderate) if moderate else None,
            "median_delay_hours": statistics.median(delays) if delays else None,
            "delays": delays,
            "by_second_hour": sum(
                1 for i in moderate if i["delay_hours"] is not None and i["delay_hours"] <= 2
            ),
        },
        "drop40_100buyers_first_hour": {
            "incidents": len(large),
            "caught_in_first_hour": sum(
                1 for i in large if i["delay_hours"] is not None and i["delay_hours"] <= 1
            ),
        },
        "single_source_attributed": {
            "incidents": len(single),
            "attributed": sum(i["detected"] for i in single),
        },
        "stockout_warned_3h_before": {
            "incidents": len(stockouts),
            "warned": sum(1 for x in leads if x is not None and x >= 3),
            "leads_hours": leads,
        },
        "alerts_on_gap_hours": len(gap_alerts),
        "weeks": hours / WEEK_HOURS,
    }


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
) -> Evaluation:
    """Replay `scenario` with `seed` and score the alerts it would have sent."""
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
        )
        try:
            hourly = _hourly(wh, sim.clock.instant(0).astimezone(UTC), end)
        finally:
            wh.close()
    truth = sim.truth()
    rules, incidents = score(sent, truth, start, end)
    ours = rules[conversion_drop.ALERTNAME]
    static, _ = score(static_alerts(hourly, start), truth, start, end, (conversion_drop.ALERTNAME,))
    zscore, _ = score(
        zscore_alerts(hourly, start, spec.timezone), truth, start, end, (conversion_drop.ALERTNAME,)
    )
    oracle_sent, alpha = oracle_alerts(
        oracle_pvalues(hourly, sim, start), truth, start, end, ours.fp
    )
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
