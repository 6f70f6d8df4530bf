"""Customer-service chats, reviews and shipments of the simulated shop, per origin hour.

Each origin hour's records carry every version they will have (a review when written and
when replied to; a shipment when paid, shipped and returned), bucketed by the hour of their
`updated_at`, so an export window is a walk over the few origin hours that can reach it.
All draws use their own random streams: the older datasets' output does not change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from simulator.rng import Stream, rng_for

if TYPE_CHECKING:
    from simulator.simulation import Simulator

__all__ = [
    "LAG_HOURS",
    "ORIGINS",
    "Versions",
    "chat_versions",
    "ip_hash",
    "review_versions",
    "shipment_versions",
]

Row = dict[str, Any]


@dataclass(frozen=True)
class Versions:
    """Every version of one origin hour's records, compactly: when, whose and which."""

    ts: np.ndarray
    entity: np.ndarray
    stage: np.ndarray
    build: Callable[[int, int], Row]

    def rows(self, start: int, end: int) -> list[tuple[int, Row]]:
        """(updated epoch second, record) of the versions updated in [start, end)."""
        picked = np.nonzero((self.ts >= start) & (self.ts < end))[0]
        return [
            (int(self.ts[i]), self.build(int(self.entity[i]), int(self.stage[i])))
            for i in picked.tolist()
        ]


def _versions(
    sim: Simulator, stamps: list[np.ndarray], build: Callable[[int, int], Row]
) -> Versions:
    """Versions from one timestamp array per stage (-1: the entity has no such version)."""
    end = int(sim.clock.starts[-1])
    ts = np.concatenate([*stamps, np.zeros(0, dtype=np.int64)]).astype(np.int64)
    entity = np.concatenate([np.arange(len(x)) for x in stamps] + [np.zeros(0, np.int64)])
    stage = np.concatenate([np.full(len(x), k) for k, x in enumerate(stamps)] + [np.zeros(0)])
    keep = (ts >= 0) & (ts < end)
    return Versions(ts[keep], entity[keep].astype(np.int64), stage[keep].astype(np.int64), build)


HOUR = 3600
# chats per visitor; the bot takes the simple questions, agents the rest
CHAT_RATE = 0.015
# buyers ask about the deal: chats per visitor double while a promotion runs
PROMO_CHAT_BOOST = 2.0
BOT_SHARE = 0.55
AGENTS = 8
AGENT_BASE_SECONDS = 8.0
AGENT_UNANSWERED = 0.01
# a chat nobody answered within this long is closed unanswered
CHAT_TIMEOUT = 1800
CHAT_LAG_HOURS = 2
# reviews come in two days after payment; 1-3% are negative
REVIEW_AFTER_HOURS = 48
REVIEW_SHARE = 0.2
RATINGS = np.array([0.01, 0.01, 0.04, 0.14, 0.80])
PROMISE = 48 * HOUR
SLOW_SHARE = 0.01
RETURN_SHARE = 0.025
RETURN_REASONS = ("size_fit", "quality", "not_as_described", "damaged", "wrong_address", "other")
RETURN_ODDS = np.array([0.3, 0.2, 0.15, 0.12, 0.03, 0.2])

_POSITIVE = (
    "质量很好，物流也快",
    "和描述一致，满意",
    "性价比高，回购",
    "good value, fast delivery",
)
_NEUTRAL = ("一般般，凑合用", "还行，包装有点简陋")
_NEGATIVE = (
    "质量太差，用了一次就坏",
    "与描述不符，失望",
    "发货太慢，客服不回复",
    "broke on day one",
)
_ATTACK = ("假货！千万别买", "骗子店铺，垃圾", "差评！大家不要上当")


def ip_hash(seed: int, who: str) -> str:
    """A stable stand-in for the platform's hashed IP/device of a reviewer."""
    return hashlib.sha256(f"{seed}:{who}".encode()).hexdigest()[:16]


def _shortage(sim: Simulator, c: int) -> tuple[float, float] | None:
    for effect, _, a, b in sim.plan.shortages:
        if a <= c < b:
            return effect.agent_median_seconds, effect.unanswered
    return None


def chat_versions(sim: Simulator, c: int) -> Versions:
    """Chats started in hour `c`, a version when opened, first answered and closed: the bot
    answers in seconds, agents slower at peak."""
    rng = rng_for(sim.spec.seed, c, Stream.CHATS)
    t_c = int(sim.clock.starts[c])
    visitors = float(sim.timeline.visitors[c].sum())
    boost = PROMO_CHAT_BOOST if sim.timeline.active[c] else 1.0
    n = int(rng.poisson(visitors * CHAT_RATE * boost))
    mean = sim.spec.visitors_per_day / 24 * CHAT_RATE
    # agents slow down with the queue; promotions are staffed up, so it tops out at 3x
    median = AGENT_BASE_SECONDS * (1 + min(n / mean if mean else 0.0, 2.0))
    missed = AGENT_UNANSWERED
    shortage = _shortage(sim, c)
    if shortage is not None:
        median, missed = shortage
    started = t_c + np.sort(rng.integers(0, HOUR, n))
    bot = rng.random(n) < BOT_SHARE
    wait = np.where(
        bot,
        rng.integers(1, 6, n),
        np.round(rng.lognormal(np.log(median), 0.7, n)).astype(np.int64) + 1,
    )
    answered = bot | ((rng.random(n) >= missed) & (wait <= CHAT_TIMEOUT))
    agent = rng.integers(1, AGENTS + 1, n)
    resolved = answered & (rng.random(n) < 0.92)
    closed = np.where(answered, started + wait + rng.integers(30, 600, n), started + CHAT_TIMEOUT)
    asks = rng.random(n) < 0.7
    sku = np.searchsorted(np.cumsum(sim.catalog.popularity), rng.random(n) * 0.999999)
    buyer = np.searchsorted(sim.catalog.buyer_cdf, rng.random(n))
    width = sim.catalog.buyer_width
    iso = sim.clock.iso
    sku_ids = sim.catalog.sku_ids

    responded = started + wait

    def build(i: int, stage: int) -> Row:
        # versions: opened (waiting), first response, closed
        has_response = bool(answered[i]) and stage >= 1
        at = (started, responded, closed)[stage][i]
        return {
            "chat_id": f"C{c:06d}-{i:05d}",
            "buyer_id": f"U{int(buyer[i]):0{width}d}",
            "started_at": iso(int(started[i])),
            "first_response_at": iso(int(responded[i])) if has_response else None,
            "responder": ("bot" if bot[i] else f"A{int(agent[i]):02d}") if has_response else None,
            "resolved": bool(resolved[i]) and stage == 2,
            "sku_id": sku_ids[int(sku[i])] if asks[i] else None,
            "updated_at": iso(int(at)),
        }

    return _versions(sim, [started, np.where(answered, responded, -1), closed], build)


def _reply_after(rng: np.random.Generator, rating: np.ndarray) -> np.ndarray:
    """Seconds until the shop replies (-1: no reply); most negative reviews inside 48 h."""
    n = len(rating)
    u = rng.random(n)
    quick = np.minimum(rng.lognormal(np.log(5 * HOUR), 0.8, n), 23 * HOUR)
    late = rng.uniform(24 * HOUR, 46 * HOUR, n)
    missed = rng.uniform(49 * HOUR, 72 * HOUR, n)
    negative = np.where(u < 0.8, quick, np.where(u < 0.92, late, missed))
    positive = np.where(u < 0.3, rng.uniform(HOUR, 24 * HOUR, n), -1)
    return np.where(rating <= 2, negative, positive).astype(np.int64)


def review_versions(sim: Simulator, c: int) -> Versions:
    """Reviews written in hour `c` about lines paid two days earlier, and attack bursts; a
    version when written and one when the shop replies."""
    rng = rng_for(sim.spec.seed, c, Stream.REVIEWS)
    t_c = int(sim.clock.starts[c])
    width = sim.catalog.buyer_width
    order_ids: list[str] = []
    buyers: list[str] = []
    skus: list[int] = []
    ids: list[str] = []
    ips: list[str] = []
    texts: list[str] = []
    parts_rating, parts_images, parts_created, parts_reply = [], [], [], []
    if c >= REVIEW_AFTER_HOURS:
        b = sim.batch(c - REVIEW_AFTER_HOURS)
        paid = np.nonzero(b.paid_ts >= 0)[0]
        chosen = paid[rng.random(len(paid)) < REVIEW_SHARE]
        n = len(chosen)
        rating = rng.choice(5, n, p=RATINGS) + 1
        pick = rng.integers(0, 1000, n)
        images = rng.random(n) < np.where(rating <= 2, 0.4, 0.2)
        created = t_c + np.sort(rng.integers(0, HOUR, n))
        after = _reply_after(rng, rating)
        for j, line in enumerate(chosen.tolist()):
            pool = _NEGATIVE if rating[j] <= 2 else _NEUTRAL if rating[j] == 3 else _POSITIVE
            who = f"U{int(b.buyer[line]):0{width}d}"
            ids.append(f"R{c:06d}-{j:05d}")
            order_ids.append(f"T{int(b.order_no[line]):08d}")
            skus.append(int(b.sku[line]))
            buyers.append(who)
            ips.append(ip_hash(sim.seed, who))
            texts.append(pool[int(pick[j]) % len(pool)])
        parts_rating.append(rating)
        parts_images.append(images)
        parts_created.append(created)
        parts_reply.append(np.where(after >= 0, created + after, -1))
    for effect, a, target in sim.plan.attacks:
        if not a <= c < a + effect.hours:
            continue
        ar = rng_for(sim.spec.seed, c, Stream.ATTACK)
        n = effect.reviews // effect.hours + int(c - a < effect.reviews % effect.hours)
        created = t_c + np.sort(ar.integers(0, HOUR, n))
        for j in range(n):
            # buyers from outside the shop's buyer pool: none of them ever paid an order
            who = f"U{sim.catalog.buyer_pool + 1 + 100 * (c - a) + j:0{width}d}"
            ids.append(f"R{c:06d}-A{j:04d}")
            order_ids.append(f"T9{c:05d}{j:02d}")
            skus.append(target)
            buyers.append(who)
            ips.append(ip_hash(sim.seed, f"attack-{a}-{int(ar.integers(effect.ips))}"))
            texts.append(_ATTACK[int(ar.integers(len(_ATTACK)))])
        parts_rating.append(np.ones(n, dtype=np.int64))
        parts_images.append(np.zeros(n, dtype=bool))
        parts_created.append(created)
        parts_reply.append(created + 20 * HOUR)
    rating = np.concatenate([*parts_rating, np.zeros(0, np.int64)]).astype(np.int64)
    images = np.concatenate([*parts_images, np.zeros(0, bool)]).astype(bool)
    created = np.concatenate([*parts_created, np.zeros(0, np.int64)]).astype(np.int64)
    replied = np.concatenate([*parts_reply, np.zeros(0, np.int64)]).astype(np.int64)
    iso = sim.clock.iso
    sku_ids = sim.catalog.sku_ids

    def build(i: int, stage: int) -> Row:
        at = int(replied[i]) if stage else int(created[i])
        return {
            "review_id": ids[i],
            "order_id": order_ids[i],
            "sku_id": sku_ids[skus[i]],
            "buyer_id": buyers[i],
            "rating": int(rating[i]),
            "text": texts[i],
            "has_images": bool(images[i]),
            "ip_hash": ips[i],
            "created_at": iso(int(created[i])),
            "replied_at": iso(at) if stage else None,
            "updated_at": iso(at),
        }

    return _versions(sim, [created, replied], build)


def _in(spans: list[tuple[Any, int, int]], c: int) -> Any:
    for effect, a, b in spans:
        if a <= c < b:
            return effect
    return None


def shipment_versions(sim: Simulator, c: int) -> Versions:
    """Shipments of the orders paid in hour `c`, promised 48 h after payment and mostly on
    time: a version when paid, when shipped and when returned."""
    rng = rng_for(sim.spec.seed, c, Stream.SHIPMENTS)
    b = sim.batch(c)
    paid_lines = np.nonzero(b.paid_ts >= 0)[0]
    orders, first = np.unique(b.order_no[paid_lines], return_index=True)
    paid = b.paid_ts[paid_lines][first].astype(np.int64)
    n = len(orders)
    ship = np.minimum(rng.lognormal(np.log(8 * HOUR), 0.6, n), 36 * HOUR)
    slow = rng.random(n) < SLOW_SHARE
    ship = np.where(slow, rng.uniform(40 * HOUR, 58 * HOUR, n), ship)
    returned = rng.random(n) < RETURN_SHARE
    back = rng.uniform(72 * HOUR, 168 * HOUR, n)
    reason = rng.choice(len(RETURN_REASONS), n, p=RETURN_ODDS)
    if _in(sim.plan.delays, c) is not None:
        ship = rng.uniform(50 * HOUR, 62 * HOUR, n)
    wrong = _in(sim.plan.wrong_address, c)
    if wrong is not None:
        hit = rng.random(n) < wrong.share
        ship = np.where(hit, rng.uniform(4 * HOUR, 8 * HOUR, n), ship)
        back = np.where(hit, rng.uniform(36 * HOUR, 46 * HOUR, n), back)
        returned |= hit
        reason = np.where(hit, RETURN_REASONS.index("wrong_address"), reason)
    shipped = paid + ship.astype(np.int64)
    back_at = np.where(returned, shipped + back.astype(np.int64), -1)
    iso = sim.clock.iso

    def build(i: int, stage: int) -> Row:
        return {
            "order_id": f"T{int(orders[i]):08d}",
            "promised_ship_by": iso(int(paid[i]) + PROMISE),
            "shipped_at": iso(int(shipped[i])) if stage >= 1 else None,
            "returned_at": iso(int(back_at[i])) if stage >= 2 else None,
            "return_reason": RETURN_REASONS[int(reason[i])] if stage >= 2 else None,
            "updated_at": iso(int((paid, shipped, back_at)[stage][i])),
        }

    return _versions(sim, [paid, shipped, back_at], build)


ORIGINS: dict[str, Callable[[Simulator, int], Versions]] = {
    "service_chats": chat_versions,
    "reviews": review_versions,
    "shipments": shipment_versions,
}
"""Each new dataset's origin-hour generator."""

LAG_HOURS = {
    "service_chats": CHAT_TIMEOUT // HOUR + 2,
    "reviews": 72 + 2,
    "shipments": 62 + 168 + 2,
}
"""How many hours after its origin hour a record can still get a new version."""
