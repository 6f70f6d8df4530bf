"""Turning a named scenario into concrete hours, promotions and stock plans for one shop."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from simulator.catalog import Catalog
from simulator.clock import Clock
from simulator.orders import LateRule
from simulator.promotions import PromoItem, Promotion, active_by_hour, commitment, promo_price
from simulator.scenarios import (
    AgentShortage,
    BadPromo,
    BadThreshold,
    ConversionDrop,
    DirtyHour,
    LateBatch,
    Outage,
    PromoDrop,
    RateLimit,
    ReviewAttack,
    Scenario,
    Stockout,
    WarehouseDelay,
    WrongAddress,
)
from simulator.timeline import SOURCES, StockPlan

__all__ = ["BASELINE_DAYS", "Plan", "quiet_days", "resolve"]

BASELINE_DAYS = 14


@dataclass
class Plan:
    """A scenario placed on a concrete timeline."""

    conversion_factor: np.ndarray
    drops: list[tuple[ConversionDrop, int, int]] = field(default_factory=list)
    promos: list[Promotion] = field(default_factory=list)
    stock_plans: list[StockPlan] = field(default_factory=list)
    late: list[LateRule] = field(default_factory=list)
    outages: list[tuple[Outage, int, int]] = field(default_factory=list)
    storms: list[tuple[RateLimit, int, int]] = field(default_factory=list)
    dirty: dict[int, DirtyHour] = field(default_factory=dict)
    spikes: list[tuple[BadThreshold, str, int, int]] = field(default_factory=list)
    shortages: list[tuple[AgentShortage, str, int, int]] = field(default_factory=list)
    attacks: list[tuple[ReviewAttack, int, int]] = field(default_factory=list)
    delays: list[tuple[WarehouseDelay, int, int]] = field(default_factory=list)
    wrong_address: list[tuple[WrongAddress, int, int]] = field(default_factory=list)


def quiet_days(clock: Clock, regular: list[Promotion]) -> list[int]:
    """Whole local days after the baseline period with no regular promotion running."""
    active = active_by_hour(regular, clock)
    days = []
    for day in range(BASELINE_DAYS, int(clock.day.max()) + 1 if clock.hours else 0):
        hours = clock.day_hours(day)
        if len(hours) >= 23 and not any(active[h] for h in hours):
            days.append(day)
    return days


def resolve(scenario: Scenario, clock: Clock, catalog: Catalog, regular: list[Promotion]) -> Plan:
    """Place each effect of the scenario; effects that fall outside the timeline are dropped."""
    plan = Plan(conversion_factor=np.ones((clock.hours, len(SOURCES))))
    quiet = quiet_days(clock, regular)
    top = [int(s) for s in np.argsort(-catalog.popularity)]
    n = 0

    def free(candidates: list[int], a: int, b: int) -> list[int]:
        """SKUs in no regular promotion running within a day of hours [a, b)."""
        busy = {
            sku
            for p in regular
            if p.start_h < b + 24 and p.end_h > a - 24
            for sku in p.skus
            if p.kind != "full_reduction"
        }
        return [s for s in candidates if s not in busy] or candidates

    def place(day: int, hour: int, hours: int) -> int | None:
        if day >= len(quiet):
            return None
        h = clock.at(quiet[day], hour)
        if h is None or h + hours > clock.hours:
            return None
        return h

    for effect in scenario.effects:
        n += 1
        if isinstance(effect, ConversionDrop):
            h = place(effect.day, effect.hour, effect.hours)
            if h is None:
                continue
            cols = [SOURCES.index(effect.source)] if effect.source else list(range(len(SOURCES)))
            for c in cols:
                plan.conversion_factor[h : h + effect.hours, c] *= 1.0 - effect.drop
            plan.drops.append((effect, h, h + effect.hours))
        elif isinstance(effect, PromoDrop):
            h = place(effect.day, effect.hour, effect.hours)
            if h is None:
                continue
            count = max(3, round(len(top) * effect.skus))
            skus = (
                sorted(top[:count])
                if effect.skus >= 1.0
                else sorted(free(top[8:], h, h + effect.hours)[:count])
            )
            plan.promos.append(
                Promotion(
                    f"P-NEW-{n}",
                    effect.name,
                    effect.kind,
                    h,
                    h + effect.hours,
                    int(clock.starts[h]) - 30 * 3600,
                    tuple(
                        PromoItem(
                            s,
                            promo_price(catalog, s, 0.85)
                            if effect.kind != "full_reduction"
                            else int(catalog.base_list_cents[s]),
                            commitment(catalog, s, effect.hours, 3.0)
                            if effect.kind != "full_reduction"
                            else 0,
                        )
                        for s in skus
                    ),
                    threshold_cents=30_000 if effect.kind == "full_reduction" else None,
                    discount_cents=4_000 if effect.kind == "full_reduction" else None,
                    uplift=effect.uplift,
                    tags=("promo_drop",),
                )
            )
            for offset, hours, drop, source in effect.drops:
                a = h + offset
                if a + hours > min(h + effect.hours, clock.hours):
                    continue
                cols = [SOURCES.index(source)] if source else list(range(len(SOURCES)))
                for c in cols:
                    plan.conversion_factor[a : a + hours, c] *= 1.0 - drop
                local = clock.instant(a)
                plan.drops.append(
                    (
                        ConversionDrop(effect.day, local.hour, hours, drop, source),
                        a,
                        a + hours,
                    )
                )
        elif isinstance(effect, Stockout):
            h = place(effect.day, effect.hour, effect.hours)
            if h is None or h < 26:
                continue
            # A best seller, but not one a regular promotion is about to need as well.
            sku = free(top[1:8], h - 24, h + effect.hours)[0]
            promo = Promotion(
                f"P-FLASH-S{n}",
                "限时秒杀 flash sale",
                "flash_sale",
                h,
                h + effect.hours,
                int(clock.starts[h]) - 26 * 3600,
                (PromoItem(sku, promo_price(catalog, sku, 0.7), commitment(catalog, sku, 4, 1.0)),),
                covered=False,
                tags=("stockout",),
            )
            plan.promos.append(promo)
            plan.stock_plans.append(
                StockPlan(sku, h - 24, h + effect.hours, promo=promo, share=effect.stock_share)
            )
        elif isinstance(effect, BadThreshold):
            h = place(effect.day, effect.hour, effect.hours)
            if h is None:
                continue
            pid = f"P-FR-B{n}"
            items = tuple(PromoItem(s, int(catalog.base_list_cents[s]), 0) for s in range(len(top)))
            common = {
                "promo_id": pid,
                "name": "满300减50 full reduction",
                "kind": "full_reduction",
                "start_h": h,
                "end_h": min(h + 24, clock.hours),
                "items": items,
                "discount_cents": 5_000,
            }
            wrong = Promotion(
                **common,  # type: ignore[arg-type]
                updated_ts=int(clock.starts[h]) - 14 * 3600,
                threshold_cents=3_000,
                cancel_prob=effect.cancel_prob,
                tags=("bad_threshold",),
            )
            fixed = Promotion(
                **common,  # type: ignore[arg-type]
                updated_ts=int(clock.starts[h + effect.hours]),
                threshold_cents=30_000,
            )
            plan.promos += [wrong, fixed]
            plan.spikes.append((effect, pid, h, h + effect.hours))
        elif isinstance(effect, BadPromo):
            h = place(effect.day, effect.hour, 1)
            if h is None:
                continue
            priced = free(
                [s for s in top[3:] if catalog.base_lowest[s] is not None], h, h + effect.hours
            )
            cheap, over = priced[0], priced[1]
            low = catalog.base_lowest[cheap]
            assert low is not None
            promo = Promotion(
                f"P-DISC-B{n}",
                "爆款直降 discount",
                "discount",
                h,
                min(h + effect.hours, clock.hours),
                int(clock.starts[h]) - 20 * 3600 + 1200,
                (
                    PromoItem(cheap, int(low * 0.8) // 10 * 10, commitment(catalog, cheap, 24, 2)),
                    PromoItem(
                        over,
                        promo_price(catalog, over, 0.85),
                        int(np.ceil(catalog.daily_units[over] * 25 / 10) * 10),
                    ),
                ),
                covered=False,
                tags=("bad_promo",),
            )
            plan.promos.append(promo)
        elif isinstance(effect, Outage):
            h = place(effect.day, effect.hour, effect.hours)
            if h is not None:
                plan.outages.append((effect, h, h + effect.hours))
        elif isinstance(effect, RateLimit):
            h = place(effect.day, effect.hour, effect.hours)
            if h is not None:
                plan.storms.append((effect, h, h + effect.hours))
        elif isinstance(effect, DirtyHour):
            h = place(effect.day, effect.hour, 1)
            if h is not None:
                plan.dirty[h] = effect
        elif isinstance(effect, AgentShortage):
            h = place(effect.day, effect.hour, effect.hours)
            if h is None or h < 26:
                continue
            # A mid seller on flash sale with its stock covered: only the agents fall short.
            sku = free(top[8:20], h - 24, h + effect.hours)[0]
            pid = f"P-FLASH-A{n}"
            plan.promos.append(
                Promotion(
                    pid,
                    "限时秒杀 flash sale",
                    "flash_sale",
                    h,
                    h + effect.hours,
                    int(clock.starts[h]) - 26 * 3600,
                    (
                        PromoItem(
                            sku,
                            promo_price(catalog, sku, 0.8),
                            commitment(catalog, sku, effect.hours, 1.0),
                        ),
                    ),
                    tags=("agent_shortage",),
                )
            )
            plan.shortages.append((effect, pid, h, h + effect.hours))
        elif isinstance(effect, ReviewAttack):
            h = place(effect.day, effect.hour, effect.hours)
            if h is not None:
                plan.attacks.append((effect, h, top[0]))
        elif isinstance(effect, WarehouseDelay):
            # orders paid in the stalled hours ship up to 62 h later
            h = place(effect.day, effect.hour, effect.hours + 62)
            if h is not None:
                plan.delays.append((effect, h, h + effect.hours))
        elif isinstance(effect, WrongAddress):
            # the batch comes back 40-56 h after it was paid
            h = place(effect.day, effect.hour, effect.hours + 56)
            if h is not None:
                plan.wrong_address.append((effect, h, h + effect.hours))
        elif isinstance(effect, LateBatch):
            h = place(effect.day, effect.hour, 1)
            if h is not None and h >= effect.created_from:
                plan.late.append(
                    LateRule(h - effect.created_from, h - effect.created_to, h, effect.share)
                )
    return plan
