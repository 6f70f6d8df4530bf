"""Export records of each dataset for one hour, in DESIGN §3/§12 format and window order."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

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

DATASETS = ("orders", "traffic", "inventory", "products", "promotions", "keywords")
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


def _fragments(sim: Simulator, b: OrderBatch) -> tuple[list[str], list[str]]:
    """Each line's JSON before its status and between status and updated_at."""
    if b.fragments is None:
        iso = sim.clock.iso
        sku_ids = sim.catalog.sku_ids
        # Every interpolated string is ASCII without quotes or backslashes: no escaping needed.
        promo_json = [f'"{p}"' for p in sim.prices.promo_ids]
        width = sim.catalog.buyer_width
        heads = []
        mids = []
        for no, buyer, sku, qty, unit, pay, src, promo, created, paid in zip(
            b.order_no.tolist(),
            b.buyer.tolist(),
            b.sku.tolist(),
            b.qty.tolist(),
            b.unit_cents.tolist(),
            b.pay_cents.tolist(),
            b.source.tolist(),
            b.promo.tolist(),
            b.created_ts.tolist(),
            b.paid_ts.tolist(),
            strict=True,
        ):
            heads.append(
                f'{{"order_id":"T{no:08d}","buyer_id":"U{buyer:0{width}d}",'
                f'"sku_id":"{sku_ids[sku]}","quantity":{qty},'
                f'"unit_price":"{unit // 100}.{unit % 100:02d}","pay_amount":{pay / 100!r},'
                '"status":"'
            )
            mids.append(
                f'","source":"{SOURCES[src]}",'
                f'"promo_id":{promo_json[promo] if promo >= 0 else "null"},'
                f'"created_at":"{iso(created)}",'
                f'"paid_at":{chr(34) + iso(paid) + chr(34) if paid >= 0 else "null"},'
                '"updated_at":"'
            )
        b.fragments = (heads, mids)
    return b.fragments


def order_bytes(sim: Simulator, h: int) -> tuple[list[int], list[bytes]]:
    """The same records as `order_rows`, serialized directly (the server's fast path)."""
    iso = sim.clock.iso
    versions, batches = order_versions(sim, h)
    frags = [_fragments(sim, b) for b in batches]
    stamps = versions[:, 0].tolist()
    rows = [
        (frags[owner][0][line] + STATUSES[st] + frags[owner][1][line] + iso(ts) + '"}').encode()
        for ts, st, line, owner in versions[:, [0, 7, 12, 13]].tolist()
    ]
    return stamps, rows


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
