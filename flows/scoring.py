"""Scoring a replay against the simulator's ground truth: what was sent, matched to the
incidents per rule (true and false positives, misses, delay), and the goals' measurements."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from simulator import Incident
from transforms.conversion import WINDOWS
from transforms.off_promotion import OFF_PROMOTION, SCOPE_LABEL
from transforms.rules import RULES as RULE_REGISTRY
from transforms.rules import (
    cancel_spike,
    conversion_drop,
    data_gap,
    late_shipping,
    low_stock_promo,
    promo_audit,
)
from transforms.time import HOUR

__all__ = ["RULES", "RuleScore", "Sent", "goals", "moderate_drop", "score"]

RULES = tuple(r.alertname for r in RULE_REGISTRY)
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


# -- matching ------------------------------------------------------------------------------


def _covers(sent: Sent, incident: Incident) -> bool:
    """Whether the alert's scope labels include the incident's (a shop-wide incident
    explains an alert on one of its sources)."""
    return all(sent.labels.get(k) == v for k, v in incident.labels.items())


def _shop_wide(sent: Sent) -> bool:
    """Whether a conversion alert is about the whole shop: the shop, or the SKUs outside the
    running promotions (a drop of the shop's conversion drops theirs too)."""
    return sent.alertname == conversion_drop.ALERTNAME and (
        not sent.labels or sent.labels == {SCOPE_LABEL: OFF_PROMOTION}
    )


def _credits(sent: Sent, incident: Incident) -> bool:
    """Whether the alert reports this incident in its own scope (a shop-wide incident also
    by the off-promotion scope; for a drop in one source, a shop-wide alert naming that
    source as the top root cause)."""
    if sent.labels == incident.labels:
        return True
    if not incident.labels and _shop_wide(sent):
        return True
    source = incident.labels.get("source")
    return (
        incident.alertname == conversion_drop.ALERTNAME
        and source is not None
        and set(incident.labels) == {"source"}
        and _shop_wide(sent)
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
                or _shop_wide(alert)
            )
            for i in live
        )
        if not explained:
            s.fp += 1
    return scores, details


# -- goals ---------------------------------------------------------------------------------


def _expected_buyers(details: dict[str, Any]) -> float:
    return float(details.get("expected_visitors_per_hour", 0)) * float(
        details.get("baseline_conversion", 0)
    )


def moderate_drop(details: dict[str, Any]) -> bool:
    """Whether a conversion incident is of the goal class: a drop of at least 30% over at
    least 2 hours at 60 or more expected buyers an hour."""
    return (
        details.get("drop", 0) >= 0.3
        and details.get("hours", 0) >= 2
        and _expected_buyers(details) >= 60
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
    moderate = [i for i in drops if moderate_drop(i["details"])]
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
