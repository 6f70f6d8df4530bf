"""Export records of each dataset for one hour, in DESIGN §3/§12 format and window order."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from simulator.orders import MAX_LAG_HOURS, STATUSES, VERSION_COLUMNS, OrderBatch
from simulator.rng import Stream, rng_for
from simulator.timeline import SOURCES

if TYPE_CHECKING:
    from simulator.simulation import Simulator

__all__ = [
    "DATASETS",
    "HOURLY",
    "inventory_rows",
    "keyword_rows",
    "order_bytes",
    "order_rows",
    "order_versions",
    "product_rows",
    "promotion_rows",
    "traffic_rows",
]

Row = dict[str, Any]

DATASETS = (
    "orders",
    "traffic",
    "inventory",
    "products",
    "promotions",
    "keywords",
    "service_chats",
    "reviews",
    "shipments",
)
HOURLY = ("orders", "traffic", "inventory", "keywords")
BOUNCE = np.array([0.38, 0.42, 0.55, 0.30, 0.60])
_SOURCE_ORDER = sorted(range(len(SOURCES)), key=lambda s: SOURCES[s])


def money(cents: int) -> float:
    """Cents as a JSON number of yuan, e.g. 17980 -> 179.8."""
    return cents / 100


def order_versions(sim: Simulator, h: int) -> tuple[np.ndarray, list[OrderBatch]]:
    """Versions updated in hour `h` (rows of VERSION_COLUMNS plus the owning batch's position
    in the returned list), in window order."""
    parts = []
    batches: list[OrderBatch] = []
    for c in range(max(0, h - MAX_LAG_HOURS), h + 1):
        b = sim.batch(c)
        lo, hi = b.bounds(h)
        if hi > lo:
            v = b.versions[lo:hi]
            parts.append(np.column_stack([v, np.full(len(v), len(batches))]))
            batches.append(b)
    if not parts:
        return np.zeros((0, len(VERSION_COLUMNS) + 1), dtype=np.int64), []
    v = np.concatenate(parts)
    return v[np.lexsort((v[:, 2], v[:, 1], v[:, 0]))], batches


def order_rows(sim: Simulator, h: int) -> list[Row]:
    """Every order-line version whose `updated_at` falls in hour `h`."""
    iso = sim.clock.iso
    sku_ids = sim.catalog.sku_ids
    promo_ids = sim.prices.promo_ids
    buyer_fmt = f"U{{:0{sim.catalog.buyer_width}d}}"
    versions, _ = order_versions(sim, h)
    return [
        {
            "order_id": f"T{no:08d}",
            "buyer_id": buyer_fmt.format(buyer),
            "sku_id": sku_ids[sku],
            "quantity": qty,
            "unit_price": f"{unit // 100}.{unit % 100:02d}",
            "pay_amount": pay / 100,
            "status": STATUSES[st],
            "source": SOURCES[src],
            "promo_id": promo_ids[promo] if promo >= 0 else None,
            "created_at": iso(created),
            "paid_at": iso(paid) if paid >= 0 else None,
            "updated_at": iso(ts),
        }
        for ts, no, sku, buyer, qty, unit, pay, st, src, promo, created, paid, *_ in (
            versions.tolist()
        )
    ]


def _iso(epochs: np.ndarray, timezone: str) -> pl.Series:
    """Epoch seconds as ISO-8601 strings with the zone's offset (as `Clock.iso` writes them)."""
    return (
        pl.from_epoch(pl.Series(epochs), time_unit="s")
        .dt.replace_time_zone("UTC")
        .dt.convert_time_zone(timezone)
        .dt.strftime("%Y-%m-%dT%H:%M:%S%:z")
    )


def _text(values: np.ndarray) -> pl.Expr:
    return pl.lit(pl.Series(values)).cast(pl.String)


def order_bytes(sim: Simulator, h: int) -> tuple[list[int], list[bytes]]:
    """The same records as `order_rows`, serialized by Polars (the server's fast path)."""
    v, _ = order_versions(sim, h)
    if len(v) == 0:
        return [], []
    tz = sim.spec.timezone
    # Every interpolated string is ASCII without quotes or backslashes: no escaping needed.
    promos = pl.Series([f'"{p}"' for p in sim.prices.promo_ids] + ["null"])
    unit, pay = v[:, 5], v[:, 6]
    cents = pay % 100
    # Whole cents written as Python's shortest float repr would: 179.8, 79.0, 0.05.
    pay_frac = np.where(
        cents % 10 == 0, (cents // 10).astype(str), np.char.zfill(cents.astype(str), 2)
    )
    paid = v[:, 11]
    row = pl.select(
        pl.concat_str(
            pl.lit('{"order_id":"T'),
            _text(v[:, 1]).str.zfill(8),
            pl.lit('","buyer_id":"U'),
            _text(v[:, 3]).str.zfill(sim.catalog.buyer_width),
            pl.lit('","sku_id":"'),
            pl.lit(pl.Series(sim.catalog.sku_ids).gather(v[:, 2])),
            pl.lit('","quantity":'),
            _text(v[:, 4]),
            pl.lit(',"unit_price":"'),
            _text(unit // 100),
            pl.lit("."),
            _text(unit % 100).str.zfill(2),
            pl.lit('","pay_amount":'),
            _text(pay // 100),
            pl.lit("."),
            pl.lit(pl.Series(pay_frac)),
            pl.lit(',"status":"'),
            pl.lit(pl.Series(STATUSES).gather(v[:, 7])),
            pl.lit('","source":"'),
            pl.lit(pl.Series(SOURCES).gather(v[:, 8])),
            pl.lit('","promo_id":'),
            pl.lit(promos.gather(np.where(v[:, 9] >= 0, v[:, 9], len(promos) - 1))),
            pl.lit(',"created_at":"'),
            pl.lit(_iso(v[:, 10], tz)),
            pl.lit('","paid_at":'),
            pl.when(pl.lit(pl.Series(paid >= 0)))
            .then(pl.lit('"') + pl.lit(_iso(np.maximum(paid, 0), tz)) + pl.lit('"'))
            .otherwise(pl.lit("null")),
            pl.lit(',"updated_at":"'),
            pl.lit(_iso(v[:, 0], tz)),
            pl.lit('"}'),
        ).cast(pl.Binary)
    ).to_series()
    return v[:, 0].tolist(), row.to_list()


def traffic_rows(sim: Simulator, h: int) -> list[Row]:
    """Visitors and engagement per (source, SKU) for hour `h`."""
    tl = sim.timeline
    vis = tl.visitors[h].astype(np.int64)
    rng = rng_for(sim.spec.seed, h, Stream.TRAFFIC_DETAIL)
    views = vis + rng.poisson(vis * 1.6)
    bounces = rng.binomial(vis, BOUNCE[:, None])
    engaged = vis - bounces
    carts = rng.binomial(engaged, np.clip(0.12 * tl.sku_conv[h], 0.0, 1.0)[None, :])
    favs = rng.binomial(engaged, 0.05)
    hour = sim.clock.iso(int(sim.clock.starts[h]))
    sku_ids = sim.catalog.sku_ids
    rows: list[Row] = []
    for s in _SOURCE_ORDER:
        src = SOURCES[s]
        for k in sim.sku_order:
            v = int(vis[s, k])
            if v == 0:
                continue
            rows.append(
                {
                    "hour": hour,
                    "source": src,
                    "sku_id": sku_ids[k],
                    "visitors": v,
                    "page_views": int(views[s, k]),
                    "bounces": int(bounces[s, k]),
                    "add_to_cart": int(carts[s, k]),
                    "favorites": int(favs[s, k]),
                }
            )
    return rows


def inventory_rows(sim: Simulator, h: int) -> list[Row]:
    """Stock per (SKU, warehouse) at the start of hour `h`."""
    tl = sim.timeline
    at = sim.clock.iso(int(sim.clock.starts[h]))
    sku_ids = sim.catalog.sku_ids
    rows: list[Row] = []
    for k in sim.sku_order:
        on_hand = int(tl.on_hand[h, k])
        reserved = int(tl.reserved[h, k])
        if k % 3 == 0:
            # Every third SKU is also stocked in a second warehouse; unpaid orders hold WH1.
            first = -(-on_hand * 3 // 5)
            split = [("WH1", first, reserved), ("WH2", on_hand - first, 0)]
        else:
            split = [("WH1", on_hand, reserved)]
        for wh, units, held in split:
            rows.append(
                {
                    "snapshot_at": at,
                    "sku_id": sku_ids[k],
                    "warehouse": wh,
                    "on_hand": units,
                    "reserved": held,
                }
            )
    return rows


def keyword_rows(sim: Simulator, h: int) -> list[Row]:
    """Search keyword performance for hour `h`, consistent with search traffic and orders."""
    cat = sim.catalog
    b = sim.batch(h)
    search = (b.source == 0) & (b.paid_ts >= 0)
    line_cat = cat.category[b.sku[search]]
    ncat = len(cat.categories)
    pairs = np.unique(b.order_no[search] * ncat + line_cat)
    buyers_cat = np.bincount(pairs % ncat, minlength=ncat)
    pay_cat = np.bincount(line_cat, weights=b.pay_cents[search], minlength=ncat)
    vis_cat = np.bincount(cat.category, weights=sim.timeline.visitors[h, 0], minlength=ncat)
    rng = rng_for(sim.spec.seed, h, Stream.KEYWORDS)
    hour = sim.clock.iso(int(sim.clock.starts[h]))
    found: list[Row] = []
    for c in range(ncat):
        words = [w for w in cat.keywords if w.category == c]
        weights = np.array([w.weight for w in words])
        weights = weights / weights.sum()
        vis = rng.multinomial(int(vis_cat[c]), weights)
        buyers = np.minimum(rng.multinomial(int(buyers_cat[c]), weights), vis)
        clicks = vis + rng.poisson(vis * 0.15)
        impressions = clicks * rng.integers(12, 30, len(words)) + rng.poisson(40, len(words))
        for i, w in enumerate(words):
            pay = round(pay_cat[c] * buyers[i] / buyers_cat[c]) if buyers_cat[c] else 0
            found.append(
                {
                    "hour": hour,
                    "keyword": w.text,
                    "impressions": int(impressions[i]),
                    "clicks": int(clicks[i]),
                    "visitors": int(vis[i]),
                    "buyers": int(buyers[i]),
                    "pay_amount": money(int(pay)),
                }
            )
    return sorted(found, key=lambda r: r["keyword"])


def product_rows(sim: Simulator) -> list[tuple[int, Row]]:
    """Every product version as (updated epoch second, record), in window order."""
    cat = sim.catalog
    out = []
    for v in sorted(sim.product_versions, key=lambda v: (v.updated_ts, cat.sku_ids[v.sku])):
        out.append(
            (
                v.updated_ts,
                {
                    "sku_id": cat.sku_ids[v.sku],
                    "title": cat.titles[v.sku],
                    "category": cat.categories[cat.category[v.sku]],
                    "list_price": money(v.list_cents),
                    "lowest_price_90d": None if v.lowest_cents is None else money(v.lowest_cents),
                    "safety_stock": int(cat.safety_stock[v.sku]),
                    "updated_at": sim.clock.iso(v.updated_ts),
                },
            )
        )
    return out


def promotion_rows(sim: Simulator) -> list[tuple[int, Row]]:
    """Every promotion version as (updated epoch second, record), in window order."""
    clock = sim.clock
    out = []
    for p in sorted(sim.promotions, key=lambda p: (p.updated_ts, p.promo_id)):
        out.append(
            (
                p.updated_ts,
                {
                    "promo_id": p.promo_id,
                    "name": p.name,
                    "kind": p.kind,
                    "starts_at": clock.iso(clock.t0 + 3600 * p.start_h),
                    "ends_at": clock.iso(clock.t0 + 3600 * p.end_h),
                    "threshold_amount": None
                    if p.threshold_cents is None
                    else money(p.threshold_cents),
                    "discount_amount": None
                    if p.discount_cents is None
                    else money(p.discount_cents),
                    "items": [
                        {
                            "sku_id": sim.catalog.sku_ids[i.sku],
                            "promo_price": money(i.price_cents),
                            "stock_commitment": i.commitment,
                        }
                        for i in p.items
                    ],
                    "updated_at": clock.iso(p.updated_ts),
                },
            )
        )
    return out
