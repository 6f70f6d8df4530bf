"""Order lines of one creation hour, with every later version (cancel, ship, refund, complete)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.clock import Clock
from simulator.promotions import Promotion
from simulator.rng import Stream, rng_for
from simulator.timeline import SOURCES, Timeline

__all__ = [
    "MAX_LAG_HOURS",
    "STATUSES",
    "VERSION_COLUMNS",
    "LateRule",
    "OrderBatch",
    "PriceBook",
    "make_batch",
]

STATUSES = ("created", "paid", "shipped", "completed", "cancelled", "refunded")
CREATED, PAID, SHIPPED, COMPLETED, CANCELLED, REFUNDED = range(6)
# Latest version of a line: shipped by 36 h after payment, then completed or refunded by 84 h.
MAX_LAG_HOURS = 121
CANCEL_PROB = 0.025
REFUND_PROB = 0.05
AUTO_CLOSE = 1800
HOUR = 3600
VERSION_COLUMNS = (
    "updated_ts", "order_no", "sku", "buyer", "qty", "unit_cents", "pay_cents", "status",
    "source", "promo", "created_ts", "paid_ts", "line",
)  # fmt: skip


@dataclass(frozen=True)
class LateRule:
    """Lines paid in hours [lo, hi) are cancelled or refunded, with odds `share`, at hour `at`."""

    lo: int
    hi: int
    at: int
    share: float


@dataclass(frozen=True)
class PriceBook:
    """Everything that prices a line in a given hour."""

    list_cents: np.ndarray  # (hours, skus)
    active: list[tuple[Promotion, ...]]
    promo_ids: list[str]

    def promo_index(self, promo_id: str) -> int:
        """Position of a promotion id in `promo_ids`."""
        return self.promo_ids.index(promo_id)


@dataclass
class OrderBatch:
    """Lines created (or paid) in one hour, and their versions bucketed by update hour."""

    hour: int
    order_no: np.ndarray
    buyer: np.ndarray
    sku: np.ndarray
    qty: np.ndarray
    unit_cents: np.ndarray
    pay_cents: np.ndarray
    source: np.ndarray
    promo: np.ndarray
    created_ts: np.ndarray
    paid_ts: np.ndarray
    v_line: np.ndarray
    v_status: np.ndarray
    v_ts: np.ndarray
    offsets: np.ndarray
    late_lines: int
    # One row per version, columns as in VERSION_COLUMNS, so an hour is a plain slice.
    versions: np.ndarray

    def bounds(self, h: int) -> tuple[int, int]:
        """Index range in the version arrays of versions updated in hour `h`."""
        i = h - self.hour
        if i < 0 or i + 1 >= len(self.offsets):
            return 0, 0
        return int(self.offsets[i]), int(self.offsets[i + 1])


def _paid_lines(tl: Timeline, c: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Paid lines of hour c: order index, sku, quantity, and per-order source."""
    k = tl.lines.shape[2]
    orders, skus, qtys, sources = [], [], [], []
    offset = 0
    arange_k = np.arange(k)
    for s in range(len(SOURCES)):
        lines_k = tl.lines[c, s].astype(np.int64)
        units_k = tl.units[c, s].astype(np.int64)
        n = int(lines_k.sum())
        b = int(tl.buyers[c, s])
        if n == 0 or b == 0:
            continue
        sku = np.repeat(arange_k, lines_k)
        start = np.concatenate([[0], np.cumsum(lines_k)[:-1]])
        extra_sku = np.repeat(arange_k, units_k - lines_k)
        pick = (rng.random(len(extra_sku)) * lines_k[extra_sku]).astype(np.int64)
        qty = 1 + np.bincount(start[extra_sku] + pick, minlength=n)
        perm = rng.permutation(n)
        order = np.empty(n, dtype=np.int64)
        order[perm[:b]] = np.arange(b)
        order[perm[b:]] = rng.integers(0, b, n - b)
        # Two picks of the same SKU in one order are one line with a larger quantity.
        key, inv = np.unique(order * k + sku, return_inverse=True)
        orders.append(key // k + offset)
        skus.append(key % k)
        qtys.append(np.bincount(inv, weights=qty).astype(np.int64))
        sources.append(np.full(b, s, dtype=np.int64))
        offset += b
    if not orders:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, empty
    return (
        np.concatenate(orders),
        np.concatenate(skus),
        np.concatenate(qtys),
        np.concatenate(sources),
    )


def make_batch(
    seed: int,
    clock: Clock,
    tl: Timeline,
    prices: PriceBook,
    buyer_cdf: np.ndarray,
    c: int,
    late: list[LateRule],
) -> OrderBatch:
    """Generate hour `c`'s lines from the timeline's counts; same inputs, same batch."""
    rng = rng_for(seed, c, Stream.ORDERS)
    t_c = int(clock.starts[c])
    k = tl.lines.shape[2]
    p_order, p_sku, p_qty, p_src = _paid_lines(tl, c, rng)
    n_paid_orders = len(p_src)
    n_paid = len(p_sku)
    un_k = tl.unpaid[c]  # (sources, skus)
    u_src = np.repeat(np.repeat(np.arange(len(SOURCES)), k), un_k.ravel())
    u_sku = np.repeat(np.tile(np.arange(k), len(SOURCES)), un_k.ravel())
    # Within each (source, sku) block the first `pending` lines are still awaiting payment.
    blocks = un_k.ravel()
    block_start = np.repeat(np.cumsum(blocks) - blocks, blocks)
    u_pending = (np.arange(len(u_sku)) - block_start) < np.repeat(tl.pending[c].ravel(), blocks)
    n_unpaid = len(u_sku)

    n_orders = n_paid_orders + n_unpaid
    o_src = np.concatenate([p_src, u_src])
    paid = t_c + rng.integers(0, HOUR, n_paid_orders)
    lag = 5 + np.minimum(rng.exponential(90.0, n_paid_orders), 1795).astype(np.int64)
    u_created = t_c + np.where(
        u_pending,
        rng.integers(HOUR - AUTO_CLOSE, HOUR, n_unpaid),
        rng.integers(0, AUTO_CLOSE, n_unpaid),
    )
    o_created = np.concatenate([paid - lag, u_created])
    o_paid = np.concatenate([paid, np.full(n_unpaid, -1, dtype=np.int64)])
    rank = np.empty(n_orders, dtype=np.int64)
    rank[np.lexsort((np.arange(n_orders), o_created))] = np.arange(n_orders)
    o_no = int(tl.order_base[c]) + rank
    o_buyer = np.searchsorted(buyer_cdf, rng.random(n_orders))

    line_order = np.concatenate([p_order, n_paid_orders + np.arange(n_unpaid)])
    sku = np.concatenate([p_sku, u_sku])
    qty = np.concatenate([p_qty, np.ones(n_unpaid, dtype=np.int64)])

    unit, promo, pay, cancel_p = _price(prices, c, k, line_order, sku, qty, n_orders)

    # Versions of paid lines: paid, then cancelled or shipped, then refunded or completed.
    idx = np.arange(n_paid)
    pts = o_paid[line_order[:n_paid]]
    cp = cancel_p[:n_paid]
    cancelled = rng.random(n_paid) < cp
    quick = cp > CANCEL_PROB
    s1 = pts + np.where(
        cancelled,
        np.where(quick, rng.integers(300, HOUR, n_paid), rng.integers(600, 6 * HOUR, n_paid)),
        rng.integers(4 * HOUR, 36 * HOUR, n_paid),
    )
    s1_status = np.where(cancelled, CANCELLED, SHIPPED)
    refunded = rng.random(n_paid) < REFUND_PROB
    s2 = s1 + np.where(
        refunded,
        rng.integers(2 * HOUR, 72 * HOUR, n_paid),
        rng.integers(24 * HOUR, 84 * HOUR, n_paid),
    )
    s2_status = np.where(refunded, REFUNDED, COMPLETED)
    s2_ok = ~cancelled
    late_lines = 0
    for rule in late:
        if not rule.lo <= c < rule.hi:
            continue
        lr = rng_for(seed, c * 1000 + rule.at, Stream.LATE)
        at = int(clock.starts[rule.at]) + lr.integers(0, 600, n_paid)
        chosen = lr.random(n_paid) < rule.share
        settled = np.where(cancelled, s1 < at, s2_ok & (s2 < at))
        chosen &= ~settled
        unshipped = chosen & (s1 >= at)
        s1 = np.where(unshipped, at, s1)
        s1_status = np.where(unshipped, CANCELLED, s1_status)
        s2_ok = s2_ok & ~unshipped
        shipped = chosen & ~unshipped
        s2 = np.where(shipped, at, s2)
        s2_status = np.where(shipped, REFUNDED, s2_status)
        cancelled = cancelled | unshipped
        late_lines += int(chosen.sum())

    u_idx = n_paid + np.arange(n_unpaid)
    u_ts = o_created[line_order[n_paid:]]
    v_line = np.concatenate([idx, idx, idx[s2_ok], u_idx, u_idx])
    v_status = np.concatenate(
        [
            np.full(n_paid, PAID),
            s1_status,
            s2_status[s2_ok],
            np.full(n_unpaid, CREATED),
            np.full(n_unpaid, CANCELLED),
        ]
    ).astype(np.int64)
    v_ts = np.concatenate([pts, s1, s2[s2_ok], u_ts, u_ts + AUTO_CLOSE]).astype(np.int64)
    end = int(clock.starts[-1])
    keep = v_ts < end
    v_line, v_status, v_ts = v_line[keep], v_status[keep], v_ts[keep]
    line_no = o_no[line_order]
    order = np.lexsort((sku[v_line], line_no[v_line], v_ts))
    v_line, v_status, v_ts = v_line[order], v_status[order], v_ts[order]
    v_hour = (v_ts - clock.t0) // HOUR
    offsets = np.searchsorted(v_hour, np.arange(c, c + MAX_LAG_HOURS + 2))
    buyer = o_buyer[line_order]
    source = o_src[line_order]
    created = o_created[line_order]
    paid_at = o_paid[line_order]
    versions = np.stack(
        [
            v_ts, line_no[v_line], sku[v_line], buyer[v_line], qty[v_line], unit[v_line],
            pay[v_line], v_status, source[v_line], promo[v_line], created[v_line],
            paid_at[v_line], v_line,
        ],
        axis=1,
    ).astype(np.int64)  # fmt: skip
    return OrderBatch(
        hour=c,
        order_no=line_no,
        buyer=buyer,
        sku=sku,
        qty=qty,
        unit_cents=unit,
        pay_cents=pay,
        source=source,
        promo=promo,
        created_ts=created,
        paid_ts=paid_at,
        v_line=v_line,
        v_status=v_status,
        v_ts=v_ts,
        offsets=offsets,
        late_lines=late_lines,
        versions=versions,
    )


def _price(
    prices: PriceBook,
    c: int,
    k: int,
    line_order: np.ndarray,
    sku: np.ndarray,
    qty: np.ndarray,
    n_orders: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Unit price, promotion, paid amount and cancel probability of each line."""
    unit = prices.list_cents[c, sku].astype(np.int64)
    sku_promo = np.full(k, -1, dtype=np.int64)
    sku_price = np.zeros(k, dtype=np.int64)
    promo_cancel = np.full(max(1, len(prices.promo_ids)), CANCEL_PROB)
    reduction: Promotion | None = None
    rank = {"flash_sale": 0, "discount": 1, "presale": 2}
    running = sorted(prices.active[c], key=lambda p: (rank.get(p.kind, 3), p.promo_id))
    for p in reversed(running):
        pi = prices.promo_index(p.promo_id)
        if p.cancel_prob is not None:
            promo_cancel[pi] = p.cancel_prob
        if p.kind == "full_reduction":
            reduction = p
            continue
        for item in p.items:
            sku_promo[item.sku] = pi
            sku_price[item.sku] = item.price_cents
    promo = sku_promo[sku]
    unit = np.where(promo >= 0, sku_price[sku], unit)
    gross = unit * qty
    discount = np.zeros(len(sku), dtype=np.int64)
    if reduction is not None and reduction.threshold_cents is not None:
        in_fr = np.zeros(k, dtype=bool)
        in_fr[reduction.skus] = True
        eligible = (promo < 0) & in_fr[sku]
        subtotal = np.bincount(line_order, weights=gross * eligible, minlength=n_orders)
        count = np.bincount(line_order, weights=eligible, minlength=n_orders)
        qualifies = (subtotal >= reduction.threshold_cents) & (count > 0)
        # A buyer never pays less than a cent a line, whatever the settings say.
        cut = np.where(qualifies, np.minimum(reduction.discount_cents or 0, subtotal - count), 0)
        share = np.where(eligible, gross / np.maximum(subtotal[line_order], 1), 0.0)
        discount = np.floor(cut[line_order] * share).astype(np.int64)
        rest = cut - np.bincount(line_order, weights=discount, minlength=n_orders)
        got = eligible & qualifies[line_order]
        first = np.nonzero(got)[0]
        _, pos = np.unique(line_order[first], return_index=True)
        firsts = first[pos]
        discount[firsts] += rest[line_order[firsts]].astype(np.int64)
        promo = np.where(got, prices.promo_index(reduction.promo_id), promo)
    cancel_p = np.where(promo >= 0, promo_cancel[np.maximum(promo, 0)], CANCEL_PROB)
    return unit, promo, gross - discount, cancel_p
