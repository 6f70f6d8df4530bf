"""Promotions: their published versions and the regular schedule of a healthy shop."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from simulator.catalog import Catalog
from simulator.clock import Clock
from simulator.rng import Stream, rng_for
from simulator.spec import ShopSpec

__all__ = ["KINDS", "PromoItem", "Promotion", "regular_promotions"]

KINDS = ("discount", "full_reduction", "flash_sale", "presale")

# Per kind: (shop traffic boost, traffic weight multiplier of its SKUs, conversion boost).
UPLIFT: dict[str, tuple[float, float, float]] = {
    "discount": (0.08, 2.0, 0.05),
    "full_reduction": (0.25, 1.0, 0.15),
    "flash_sale": (0.6, 5.0, 0.25),
    "presale": (0.03, 1.8, 0.02),
}


@dataclass(frozen=True)
class PromoItem:
    """A SKU in a promotion with its promotion price and the units committed to it."""

    sku: int
    price_cents: int
    commitment: int


@dataclass(frozen=True)
class Promotion:
    """One published version of a promotion; a later version of the same id replaces it."""

    promo_id: str
    name: str
    kind: str
    start_h: int
    end_h: int
    updated_ts: int
    items: tuple[PromoItem, ...]
    threshold_cents: int | None = None
    discount_cents: int | None = None
    surge: bool = False
    # Whether the seller stocks up for the committed units (False: a planning mistake).
    covered: bool = True
    # Probability that a paid line under this version is cancelled (None: the shop's usual rate).
    cancel_prob: float | None = None
    tags: tuple[str, ...] = field(default=())
    # (traffic boost, SKU traffic weight, conversion boost) instead of UPLIFT[kind]
    uplift: tuple[float, float, float] | None = None

    @property
    def skus(self) -> list[int]:
        """SKU indexes in the promotion."""
        return [i.sku for i in self.items]


def _round10(x: float) -> int:
    return int(np.ceil(x / 10.0) * 10)


def promo_price(catalog: Catalog, sku: int, fraction: float) -> int:
    """A promotion price `fraction` of list price, never under the 90-day low."""
    price = int(round(catalog.base_list_cents[sku] * fraction / 10) * 10)
    low = catalog.base_lowest[sku]
    return max(price, low) if low is not None else price


def commitment(catalog: Catalog, sku: int, hours: int, boost: float) -> int:
    """Units a seller would commit: expected promotion sales with a margin."""
    return _round10(catalog.daily_units[sku] * hours / 24 * boost * 1.2 + 5)


def regular_promotions(spec: ShopSpec, clock: Clock, catalog: Catalog) -> list[Promotion]:
    """The healthy shop's schedule: weekend discounts, a full reduction, a presale, a flash sale."""
    rng = rng_for(spec.seed, 0, Stream.PROMOS)
    days = spec.days
    k = spec.skus
    promos: list[Promotion] = []
    n = 0
    for day in range(days):
        h = clock.at(day, 0)
        if h is None or clock.weekday[h] != 5:
            continue
        n += 1
        skus = sorted(rng.choice(k, size=max(3, k // 20), replace=False).tolist())
        end = min(h + 48, clock.hours)
        items = tuple(
            PromoItem(s, promo_price(catalog, s, 0.85), commitment(catalog, s, 48, 2.0))
            for s in skus
        )
        promos.append(
            Promotion(
                f"P-WKND-{n}",
                "周末特惠 weekend discount",
                "discount",
                h,
                end,
                int(clock.starts[h]) - 33 * 3600 + 60 * n,
                items,
            )
        )
    top = np.argsort(-catalog.popularity)
    if days >= 9:
        h = clock.at(5, 0)
        assert h is not None
        items = tuple(PromoItem(s, int(catalog.base_list_cents[s]), 0) for s in range(k))
        promos.append(
            Promotion(
                "P-FR-1",
                "满300减30 full reduction",
                "full_reduction",
                h,
                h + 72,
                int(clock.starts[h]) - 38 * 3600,
                items,
                threshold_cents=30_000,
                discount_cents=3_000,
            )
        )
    if days >= 10:
        h = clock.at(days - 4, 0)
        assert h is not None
        skus = sorted(int(s) for s in top[5:7])
        items = tuple(
            PromoItem(s, promo_price(catalog, s, 0.9), commitment(catalog, s, 72, 1.8))
            for s in skus
        )
        promos.append(
            Promotion(
                "P-PRE-1",
                "新品预售 presale",
                "presale",
                h,
                h + 72,
                int(clock.starts[h]) - 2 * 86_400 + 1800,
                items,
            )
        )
    if days >= 3:
        h = clock.at(days - 1, 0)
        assert h is not None
        local = clock.instant(h)
        name = "双11 flash sale" if (local.month, local.day) == (11, 11) else "限时秒杀 flash sale"
        skus = sorted(int(s) for s in top[:3])
        items = tuple(
            PromoItem(s, promo_price(catalog, s, 0.7), commitment(catalog, s, 12, 6.0))
            for s in skus
        )
        promos.append(
            Promotion(
                "P-FLASH-1",
                name,
                "flash_sale",
                h,
                min(h + 12, clock.hours),
                int(clock.starts[h]) - 30 * 3600,
                items,
                surge=True,
            )
        )
    return promos


def publication(promos: list[Promotion], clock: Clock) -> list[tuple[Promotion, int, int]]:
    """Each version with the hours it is in force: [first hour it applies to, next version)."""
    by_id: dict[str, list[Promotion]] = {}
    for p in promos:
        by_id.setdefault(p.promo_id, []).append(p)
    out: list[tuple[Promotion, int, int]] = []
    for versions in by_id.values():
        versions.sort(key=lambda v: v.updated_ts)
        # A version applies from the first hour starting at or after its publication.
        pubs = [max(0, -((clock.t0 - v.updated_ts) // 3600)) for v in versions]
        for i, v in enumerate(versions):
            until = pubs[i + 1] if i + 1 < len(versions) else clock.hours + 10_000
            out.append((v, pubs[i], until))
    return out


def active_by_hour(promos: list[Promotion], clock: Clock) -> list[tuple[Promotion, ...]]:
    """For each hour, the promotion versions running in it."""
    hours: list[list[Promotion]] = [[] for _ in range(clock.hours)]
    for v, pub, until in publication(promos, clock):
        for h in range(max(pub, v.start_h, 0), min(until, v.end_h, clock.hours)):
            hours[h].append(v)
    return [tuple(sorted(h, key=lambda v: v.promo_id)) for h in hours]
