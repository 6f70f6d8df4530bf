"""Hourly aggregates of the whole timeline: traffic, conversion, sales and inventory."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.catalog import Catalog
from simulator.clock import Clock
from simulator.promotions import UPLIFT, Promotion, active_by_hour, publication
from simulator.rng import Stream, rng_for
from simulator.spec import ShopSpec

__all__ = ["SOURCES", "StockPlan", "Timeline"]

SOURCES = ("search", "recommend", "ads", "direct", "social")
SOURCE_SHARE = np.array([0.60, 0.17, 0.10, 0.08, 0.05])
SOURCE_CONVERSION = np.array([1.0, 0.8, 0.7, 1.7, 0.5])
BASE_CONVERSION = 0.03
# Beta concentration of the hourly conversion rate: hour-to-hour spread well beyond binomial.
KAPPA = 2000.0
EXTRA_LINES = 0.3
UNPAID = 0.12
DAILY_SHAPE = np.array(
    [2.2, 1.3, 0.7, 0.45, 0.35, 0.4, 0.8, 1.6, 2.8, 4.0, 5.0, 5.2,
     4.6, 4.8, 5.0, 5.0, 4.8, 4.6, 4.8, 5.8, 7.0, 7.4, 6.2, 4.2]
)  # fmt: skip
DAILY_SHAPE = DAILY_SHAPE / DAILY_SHAPE.sum()
WEEKLY = np.array([0.97, 0.96, 0.97, 0.98, 1.0, 1.12, 1.1])
HOUR_CONVERSION = np.array([1.0] * 2 + [0.85] * 5 + [1.0] * 13 + [1.1] * 3 + [1.0])
SURGE = (6.0, 3.0, 1.6)
RESTOCK_HOUR = 9


@dataclass(frozen=True)
class StockPlan:
    """A SKU whose stock is set to a level at `from_h` and not restocked until `to_h`."""

    sku: int
    from_h: int
    to_h: int
    level: int | None = None
    promo: Promotion | None = None
    share: float = 0.45


class Timeline:
    """Per-hour counts for the whole timeline, computed once so any hour can be served alone."""

    def __init__(
        self,
        spec: ShopSpec,
        clock: Clock,
        catalog: Catalog,
        promos: list[Promotion],
        conversion_factor: np.ndarray,
        stock_plans: list[StockPlan],
    ) -> None:
        seed = spec.seed
        hours, k = clock.hours, spec.skus
        self.active = active_by_hour(promos, clock)
        traffic_mult = np.ones(hours)
        sku_mult = np.ones((hours, k))
        sku_conv = np.ones((hours, k))
        conv_boost = np.zeros(hours)
        for h, running in enumerate(self.active):
            for p in running:
                boost, weight, conv = p.uplift or UPLIFT[p.kind]
                age = h - p.start_h
                surge = SURGE[age] if p.surge and age < len(SURGE) else 1.0
                traffic_mult[h] += boost * surge
                conv_boost[h] += conv
                if p.kind != "full_reduction":
                    sku_mult[h, p.skus] = np.maximum(sku_mult[h, p.skus], weight)
                    sku_conv[h, p.skus] = 1.5
        days = int(clock.day.max()) + 1 if hours else 0
        day_rng = rng_for(seed, 0, Stream.DAYS)
        day_traffic = day_rng.lognormal(0.0, 0.06, days)
        self.day_conversion = day_rng.lognormal(-0.5 * 0.06**2, 0.06, days)
        lh = clock.local_hour
        total = (
            spec.visitors_per_day
            * DAILY_SHAPE[lh]
            * WEEKLY[clock.weekday]
            * day_traffic[clock.day]
            * traffic_mult
        )
        self.expected_visitors = total[:, None] * SOURCE_SHARE[None, :]
        base = BASE_CONVERSION * SOURCE_CONVERSION[None, :] * HOUR_CONVERSION[lh][:, None]
        self.base_conversion = base * (1.0 + conv_boost)[:, None]
        self.true_conversion = self.base_conversion * conversion_factor
        weights = catalog.popularity[None, :] * sku_mult
        self.sku_weights = weights / weights.sum(axis=1, keepdims=True)
        choice = self.sku_weights * sku_conv
        self.sku_choice = choice / choice.sum(axis=1, keepdims=True)
        self.sku_conv = sku_conv
        buyers_exp = (self.expected_visitors * self.true_conversion).sum(axis=1)
        self.expected_units = (
            buyers_exp[:, None] * (1 + EXTRA_LINES) * self.sku_choice * (1 + catalog.extra_units)
        )
        self._cum_units = np.vstack([np.zeros(k), np.cumsum(self.expected_units, axis=0)])
        self._stock(spec, clock, catalog, promos, stock_plans)

    def expected_between(self, a: int, b: int) -> np.ndarray:
        """Expected paid units per SKU over hours [a, b)."""
        a = min(max(a, 0), len(self._cum_units) - 1)
        b = min(max(b, a), len(self._cum_units) - 1)
        return self._cum_units[b] - self._cum_units[a]

    def sku_buyers(self, h: int, skus: np.ndarray) -> tuple[float, float]:
        """Mean and variance of the buyers in hour `h` who pay for at least one of the SKUs in
        the mask `skus`, given the hour's visitors, at the conversion without incidents.

        A buyer's order has 1 + Poisson(EXTRA_LINES) lines, each on a SKU drawn by its
        source's weights; with w that weight's share for these SKUs, it holds one of them
        with probability 1 - (1 - w) exp(-EXTRA_LINES w). Each visitor is taken to be such
        a buyer independently (binomial: the hourly rate's own spread left out, as in the
        oracle's test of a source).
        """
        vis = self.visitors[h].astype(np.float64)
        n = vis.sum(axis=1)
        weight = vis * self.sku_conv[h][None, :] * (self.on_hand[h] > 0)[None, :]
        total = weight.sum(axis=1)
        w = np.divide(weight[:, skus].sum(axis=1), total, out=np.zeros_like(total), where=total > 0)
        rate = self.base_conversion[h] * (1 - (1 - w) * np.exp(-EXTRA_LINES * w))
        return float((n * rate).sum()), float((n * rate * (1 - rate)).sum())

    def _stock(
        self,
        spec: ShopSpec,
        clock: Clock,
        catalog: Catalog,
        promos: list[Promotion],
        plans: list[StockPlan],
    ) -> None:
        seed = spec.seed
        hours, s_n, k = clock.hours, len(SOURCES), spec.skus
        safety = catalog.safety_stock
        # Units the seller must hold for published promotions, and the cover each one needs.
        commit = np.zeros((hours, k))
        cover = np.zeros((hours, k))
        for v, pub, until in publication(promos, clock):
            # The seller stocks up in the hour the promotion is published, not after it.
            lo, hi = max(min(pub, clock.hour_of(v.updated_ts)), 0), min(until, v.end_h, hours)
            if not v.covered or lo >= hi:
                continue
            for item in v.items:
                commit[lo:hi, item.sku] += item.commitment
            for h in range(max(lo, v.start_h - 24), hi):
                need = self.expected_between(h, v.end_h)[v.skus] * 1.25
                cover[h, v.skus] = np.maximum(cover[h, v.skus], need)
        suppress = np.zeros((hours, k), dtype=bool)
        set_level: dict[int, list[tuple[int, int]]] = {}
        for plan in plans:
            suppress[max(plan.from_h, 0) : min(plan.to_h, hours), plan.sku] = True
            level = plan.level
            if level is None and plan.promo is not None:
                before = self.expected_between(plan.from_h, plan.promo.start_h)[plan.sku]
                during = self.expected_between(plan.promo.start_h, plan.promo.end_h)[plan.sku]
                level = int(np.ceil(before + plan.share * during))
            if level is not None and 0 <= plan.from_h < hours:
                set_level.setdefault(plan.from_h, []).append((plan.sku, level))

        shape3 = (hours, s_n, k)
        self.visitors = np.zeros(shape3, dtype=np.int32)
        self.lines = np.zeros(shape3, dtype=np.int32)
        self.units = np.zeros(shape3, dtype=np.int32)
        self.unpaid = np.zeros(shape3, dtype=np.int32)
        self.pending = np.zeros(shape3, dtype=np.int32)
        self.buyers = np.zeros((hours, s_n), dtype=np.int64)
        self.realized_conversion = np.zeros((hours, s_n))
        self.on_hand = np.zeros((hours + 1, k), dtype=np.int64)
        self.reserved = np.zeros((hours + 1, k), dtype=np.int64)
        self.adjust = np.zeros((hours, k), dtype=np.int64)
        on_hand = np.zeros(k, dtype=np.int64)
        extra = catalog.extra_units[None, :]
        margin = np.ceil(0.1 * safety) + 3
        for h in range(hours):
            need = safety + commit[h]
            target = np.ceil((1.6 * self.expected_between(h, h + 72) + need) / 10) * 10
            low = on_hand < need + np.maximum(self.expected_between(h, h + 12), cover[h]) + margin
            due = low | (clock.local_hour[h] == RESTOCK_HOUR) | (h == 0)
            add = np.where(due & ~suppress[h], np.maximum(target - on_hand, 0), 0).astype(np.int64)
            for sku, level in set_level.get(h, ()):
                add[sku] = level - on_hand[sku]
            on_hand = on_hand + add
            self.adjust[h] = add
            self.on_hand[h] = on_hand

            rt = rng_for(seed, h, Stream.TRAFFIC)
            visitors = rt.poisson(self.expected_visitors[h] * rt.lognormal(0.0, 0.05))
            vis_sk = rt.multinomial(visitors, self.sku_weights[h])
            self.visitors[h] = vis_sk

            rc = rng_for(seed, h, Stream.CONVERSION)
            p = self.true_conversion[h]
            rate = rc.beta(p * KAPPA, (1 - p) * KAPPA) * self.day_conversion[clock.day[h]]
            rate = np.clip(rate, 0.0, 1.0)
            self.realized_conversion[h] = rate
            buyers = rc.binomial(visitors, rate)
            lines_s = buyers + rc.poisson(EXTRA_LINES * buyers)
            unpaid_s = rc.binomial(visitors, np.clip(rate * UNPAID, 0.0, 1.0))
            weight = vis_sk * self.sku_conv[h][None, :] * (on_hand > 0)[None, :]
            tot = weight.sum(axis=1)
            ok = tot > 0
            probs = np.where(ok[:, None], weight / np.where(ok, tot, 1)[:, None], 1.0 / k)
            lines = rc.multinomial(np.where(ok, lines_s, 0), probs)
            units = lines + rc.poisson(lines * extra)
            unpaid = rc.multinomial(np.where(ok, unpaid_s, 0), probs)
            pending = rc.binomial(unpaid, 0.5)
            buyers = np.where(ok, buyers, 0)
            demand = units.sum(axis=0)
            over = demand > on_hand
            if over.any():
                # Sold out: sell what is there, and the buyers who found nothing leave.
                f = np.where(over, on_hand / np.maximum(demand, 1), 1.0)[None, :]
                biggest = units.argmax(axis=0)
                units = np.floor(units * f).astype(np.int64)
                lines = np.minimum(np.floor(lines * f).astype(np.int64), units)
                # The last units left go to the source that wanted most, so stock reaches 0.
                cols = np.nonzero(over)[0]
                units[biggest[cols], cols] += on_hand[cols] - units[:, cols].sum(axis=0)
                lines = np.maximum(lines, (units > 0).astype(np.int64))
                buyers = np.minimum(buyers, lines.sum(axis=1))
            self.lines[h] = lines
            self.units[h] = units
            self.unpaid[h] = unpaid
            self.pending[h] = pending
            self.buyers[h] = buyers
            on_hand = on_hand - units.sum(axis=0)
            self.reserved[h + 1] = pending.sum(axis=0)
        self.on_hand[hours] = on_hand
        # Global order numbering: orders (paid and unpaid) created before each hour.
        per_hour = self.buyers.sum(axis=1) + self.unpaid.sum(axis=(1, 2))
        self.order_base = np.concatenate([[0], np.cumsum(per_hour)]).astype(np.int64)
