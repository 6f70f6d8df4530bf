"""Deriving the ground truth of a simulated timeline: what a correct pipeline alerts on."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from simulator.incidents import Incident
from simulator.promotions import Promotion, publication
from simulator.service import ORIGINS
from simulator.timeline import SOURCES

if TYPE_CHECKING:
    from simulator.simulation import Simulator

__all__ = ["MIN_DROP", "MIN_VISITORS", "ground_truth"]

# DESIGN §6 defaults: a derived conversion incident is listed only when a default rule could
# see it (relative drop >= 25% on >= 100 visitors an hour).
MIN_DROP = 0.25
MIN_VISITORS = 100


def _runs(hours: Iterable[int]) -> list[tuple[int, int]]:
    """Contiguous [start, end) runs of a set of hour indexes."""
    runs: list[tuple[int, int]] = []
    for h in sorted(set(hours)):
        if runs and runs[-1][1] == h:
            runs[-1] = (runs[-1][0], h + 1)
        else:
            runs.append((h, h + 1))
    return runs


def ground_truth(sim: Simulator, *, reviews: bool = True) -> list[Incident]:
    """Every incident of the simulator's scenario, sorted by start, alertname and labels;
    without the negative reviews when `reviews` is false (finding them generates every hour's
    orders and reviews: most of the cost)."""
    found = _conversion(sim) + _spikes(sim) + _gaps(sim) + _stock(sim) + _audit(sim)
    found += _service(sim) + _attacks(sim) + _shipping(sim)
    if reviews:
        found += _negative_reviews(sim)
    return sorted(found, key=lambda i: (i.start, i.alertname, sorted(i.labels.items())))


def _incident(
    sim: Simulator, name: str, labels: dict[str, str], a: int, b: int, **details: Any
) -> Incident:
    return Incident(name, labels, sim.clock.instant(a), sim.clock.instant(b), details)


def _conversion(sim: Simulator) -> list[Incident]:
    tl = sim.timeline
    out = []
    for drop, a, b in sim.plan.drops:
        vis = tl.expected_visitors[a:b]
        per_source = vis.mean(axis=0)
        common = {"hours": b - a, "baseline_conversion": _rate(tl.base_conversion[a:b], vis)}
        if drop.source is None:
            out.append(
                _incident(
                    sim,
                    "conversion_drop",
                    {},
                    a,
                    b,
                    drop=drop.drop,
                    source=None,
                    derived=False,
                    expected_visitors_per_hour=round(float(vis.sum(axis=1).mean()), 1),
                    **common,
                )
            )
            for s, name in enumerate(SOURCES):
                if per_source[s] >= MIN_VISITORS:
                    out.append(
                        _incident(
                            sim,
                            "conversion_drop",
                            {"source": name},
                            a,
                            b,
                            drop=drop.drop,
                            source=name,
                            derived=True,
                            expected_visitors_per_hour=round(float(per_source[s]), 1),
                            baseline_conversion=float(tl.base_conversion[a:b, s].mean()),
                            hours=b - a,
                        )
                    )
            continue
        s = SOURCES.index(drop.source)
        out.append(
            _incident(
                sim,
                "conversion_drop",
                {"source": drop.source},
                a,
                b,
                drop=drop.drop,
                source=drop.source,
                derived=False,
                expected_visitors_per_hour=round(float(per_source[s]), 1),
                baseline_conversion=float(tl.base_conversion[a:b, s].mean()),
                hours=b - a,
            )
        )
        # A big enough drop in a big source drags the whole shop down with it.
        implied = 1.0 - _rate(tl.true_conversion[a:b], vis) / common["baseline_conversion"]
        if implied >= MIN_DROP:
            out.append(
                _incident(
                    sim,
                    "conversion_drop",
                    {},
                    a,
                    b,
                    drop=round(implied, 3),
                    source=drop.source,
                    derived=True,
                    **common,
                    expected_visitors_per_hour=round(float(vis.sum(axis=1).mean()), 1),
                )
            )
    return out


def _rate(rates: np.ndarray, visitors: np.ndarray) -> float:
    return float((rates * visitors).sum() / visitors.sum())


def _spikes(sim: Simulator) -> list[Incident]:
    return [
        _incident(
            sim,
            "cancel_spike",
            {},
            a,
            b,
            promo_id=pid,
            cancel_prob=effect.cancel_prob,
            reason="full_reduction discount above its threshold",
        )
        for effect, pid, a, b in sim.plan.spikes
    ]


def _gaps(sim: Simulator) -> list[Incident]:
    return [
        _incident(
            sim,
            "data_gap",
            {},
            a,
            b,
            kind=o.kind,
            datasets=["orders", "traffic", "inventory", "keywords"]
            if o.kind == "empty"
            else ["orders", "traffic", "inventory", "products", "promotions", "keywords"],
        )
        for o, a, b in sim.plan.outages
    ]


def _stock(sim: Simulator) -> list[Incident]:
    """SKUs in a running or upcoming (24 h) promotion that are at or under safety stock, or
    whose stock will not last to the promotion's end at the expected sales rate."""
    tl, hours = sim.timeline, sim.clock.hours
    safety = sim.catalog.safety_stock
    flagged: dict[tuple[str, int], set[int]] = {}
    ends: dict[tuple[str, int], int] = {}
    for v, pub, until in publication(sim.promotions, sim.clock):
        for h in range(max(pub, v.start_h - 24, 0), min(until, v.end_h, hours)):
            available = tl.on_hand[h] - tl.reserved[h]
            remaining = tl.expected_between(h, v.end_h)
            for sku in v.skus:
                if available[sku] <= safety[sku] or available[sku] < remaining[sku]:
                    flagged.setdefault((v.promo_id, sku), set()).add(h)
                    ends[(v.promo_id, sku)] = v.end_h
    out = []
    for (pid, sku), hs in flagged.items():
        for a, b in _runs(hs):
            out_of_stock = np.nonzero(tl.on_hand[a : ends[(pid, sku)] + 1, sku] == 0)[0]
            sold_out = (
                sim.clock.instant(a + int(out_of_stock[0])).isoformat()
                if len(out_of_stock)
                else None
            )
            out.append(
                _incident(
                    sim,
                    "low_stock_promo",
                    {"sku_id": sim.catalog.sku_ids[sku], "promo_id": pid},
                    a,
                    b,
                    available_at_start=int(tl.on_hand[a, sku] - tl.reserved[a, sku]),
                    safety_stock=int(safety[sku]),
                    sold_out_at=sold_out,
                )
            )
    return out


# the rules see promotions starting within low_stock_promo's lookahead (24 h) + 1 h
AUDIT_LOOKAHEAD_HOURS = 25


def _lows(sim: Simulator) -> dict[int, tuple[list[int], list[int | None]]]:
    """Per SKU, its product versions' publication times and 90-day lows, in time order."""
    by_sku: dict[int, list[tuple[int, int | None]]] = {}
    for v in sim.product_versions:
        by_sku.setdefault(v.sku, []).append((v.updated_ts, v.lowest_cents))
    out: dict[int, tuple[list[int], list[int | None]]] = {}
    for sku, versions in by_sku.items():
        versions.sort(key=lambda tv: tv[0])
        out[sku] = ([t for t, _ in versions], [low for _, low in versions])
    return out


def _low_before(
    lows: dict[int, tuple[list[int], list[int | None]]], sku: int, ts: int
) -> int | None:
    """The SKU's 90-day low as published before `ts` (None when none is known)."""
    times, values = lows.get(sku, ([], []))
    i = bisect.bisect_left(times, ts)
    return values[i - 1] if i else None


def _broken(v: Promotion) -> bool:
    """A full reduction whose threshold or discount is missing, or whose discount is not
    under its threshold."""
    t, d = v.threshold_cents, v.discount_cents
    return v.kind == "full_reduction" and (t is None or d is None or t <= 0 or d <= 0 or d >= t)


def _audit(sim: Simulator) -> list[Incident]:
    """The registration checklist failing on a registered promotion, per promotion, from the
    hour the audit can see it: a promo price under the 90-day low, committed stock above
    what is available less the overlapping promotions' commitments (before it starts), a
    full reduction with an inconsistent threshold, or one that stacks a price under the
    90-day low."""
    tl, clock, hours = sim.timeline, sim.clock, sim.clock.hours
    lows = _lows(sim)
    live: list[list[Promotion]] = [[] for _ in range(hours)]
    for v, _, until in publication(sim.promotions, clock):
        for h in range(max(0, clock.hour_of(v.updated_ts)), min(until, v.end_h, hours)):
            if v.start_h <= h + AUDIT_LOOKAHEAD_HOURS:
                live[h].append(v)
    flagged: dict[str, dict[int, set[str]]] = {}
    for h, versions in enumerate(live):
        as_of = int(clock.starts[h + 1])
        for v in versions:
            overlapping = [o for o in versions if o.start_h < v.end_h and o.end_h > v.start_h]
            found: set[str] = set()
            if _broken(v):
                found.add("*:full_reduction")
            for item in v.items:
                sku_id = sim.catalog.sku_ids[item.sku]
                low = _low_before(lows, item.sku, as_of)
                if low is not None and item.price_cents < low:
                    found.add(f"{sku_id}:price_90d_low")
                if h < v.start_h:
                    elsewhere = sum(
                        i.commitment
                        for o in overlapping
                        if o.promo_id != v.promo_id
                        for i in o.items
                        if i.sku == item.sku
                    )
                    free = tl.on_hand[h, item.sku] - tl.reserved[h, item.sku] - elsewhere
                    if item.commitment > free:
                        found.add(f"{sku_id}:committed_stock")
                for f in overlapping:
                    if f.kind != "full_reduction" or _broken(f) or low is None:
                        continue
                    t, d = f.threshold_cents or 0, f.discount_cents or 0
                    if any(i.sku == item.sku for i in f.items) and (
                        item.price_cents >= t and item.price_cents - d < low
                    ):
                        found.add(f"{sku_id}:full_reduction")
            if found:
                flagged.setdefault(v.promo_id, {})[h] = found
    out = []
    for pid, by_hour in flagged.items():
        for a, b in _runs(by_hour):
            failed = sorted(set().union(*(by_hour[h] for h in range(a, b))))
            reasons = sorted({f.split(":", 1)[1] for f in failed})
            out.append(
                _incident(
                    sim, "promo_audit", {"promo_id": pid}, a, b, reasons=reasons, failed=failed
                )
            )
    return out


def _service(sim: Simulator) -> list[Incident]:
    """Agent shortages: the hours a flash sale's chats wait too long."""
    return [
        _incident(
            sim,
            "slow_service",
            {},
            a,
            b,
            promo_id=pid,
            agent_median_seconds=effect.agent_median_seconds,
            unanswered=effect.unanswered,
        )
        for effect, pid, a, b in sim.plan.shortages
    ]


def _negative_reviews(sim: Simulator) -> list[Incident]:
    """Every 1-2 star review, from the hour it is written until the shop replies or its
    48-hour window closes."""
    out = []
    for c in range(sim.clock.hours):
        versions = ORIGINS["reviews"](sim, c)
        replies = {
            row["review_id"]: ts
            for ts, row in versions.rows(0, 2**62)
            if row["replied_at"] is not None
        }
        for ts, row in versions.rows(0, 2**62):
            if row["replied_at"] is not None or row["rating"] > 2:
                continue
            a = sim.clock.hour_of(ts)
            close = ts + 48 * 3600
            replied = replies.get(row["review_id"])
            if replied is not None and replied < sim.clock.starts[a + 1]:
                continue  # answered within its hour: no hourly run ever sees it open
            until = min(close, replied) if replied is not None else close
            b = min(sim.clock.hour_of(until - 1) + 1, sim.clock.hours)
            if b > a:
                out.append(
                    _incident(
                        sim,
                        "negative_review",
                        {"review_id": row["review_id"]},
                        a,
                        b,
                        rating=row["rating"],
                        sku_id=row["sku_id"],
                        replied=replied is not None and replied < close,
                    )
                )
    return out


def _attacks(sim: Simulator) -> list[Incident]:
    return [
        _incident(
            sim,
            "review_attack",
            {"sku_id": sim.catalog.sku_ids[sku]},
            a,
            a + effect.hours,
            reviews=effect.reviews,
            ips=effect.ips,
        )
        for effect, a, sku in sim.plan.attacks
    ]


def _shipping(sim: Simulator) -> list[Incident]:
    """Warehouse delays (orders paid in [a, b) ship 50-62 h later, past the 48 h promise)
    and wrong-address batches (returned 40-54 h after payment)."""
    hours = sim.clock.hours
    late = [
        _incident(sim, "late_shipping", {}, a + 48, min(b + 62, hours), paid_from=a, paid_to=b)
        for _, a, b in sim.plan.delays
    ]
    returns = [
        _incident(
            sim,
            "return_spike",
            {"reason": "wrong_address"},
            a + 40,
            min(b + 54, hours),
            share=effect.share,
        )
        for effect, a, b in sim.plan.wrong_address
    ]
    return late + returns
