"""Named scenarios: a shop timeline plus the incidents injected into it."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "SCENARIOS",
    "AgentShortage",
    "BadPromo",
    "BadThreshold",
    "ConversionDrop",
    "DirtyHour",
    "LateBatch",
    "Outage",
    "PromoDrop",
    "RateLimit",
    "ReviewAttack",
    "Scenario",
    "Stockout",
    "WarehouseDelay",
    "WrongAddress",
]

# Effects are placed on "quiet days": whole local days from day 14 on (a baseline needs two
# weeks) with no regular promotion, counted in order; an effect whose day does not exist in a
# shorter timeline is left out, and so is its ground truth.


@dataclass(frozen=True)
class ConversionDrop:
    """Conversion falls by `drop` (relative) for `hours` hours, in one source or all."""

    day: int
    hour: int
    hours: int
    drop: float
    source: str | None = None


@dataclass(frozen=True)
class PromoDrop:
    """A promotion the shop has not run before (its kind, or its uplift), with conversion
    drops inside it: `drops` are (hours after its start, hours, relative drop, source)."""

    day: int
    hour: int
    hours: int
    kind: str
    name: str
    drops: tuple[tuple[int, int, float, str | None], ...]
    # (traffic boost, SKU traffic weight, conversion boost) instead of the kind's usual one
    uplift: tuple[float, float, float] | None = None
    # the share of the catalogue in it (1.0: store-wide)
    skus: float = 0.05


@dataclass(frozen=True)
class Stockout:
    """A flash sale on a best seller whose stock runs out part-way through."""

    day: int
    hour: int = 10
    hours: int = 12
    stock_share: float = 0.45


@dataclass(frozen=True)
class BadThreshold:
    """A full reduction published with its discount above its threshold until the fix."""

    day: int
    hour: int = 9
    hours: int = 5
    cancel_prob: float = 0.4


@dataclass(frozen=True)
class BadPromo:
    """A discount priced under the 90-day low and committing more units than are in stock."""

    day: int
    hour: int = 10
    hours: int = 24


@dataclass(frozen=True)
class Outage:
    """The export fails (`5xx`) or silently returns nothing for its latest hour (`empty`)."""

    day: int
    hour: int
    hours: int = 1
    kind: str = "5xx"


@dataclass(frozen=True)
class RateLimit:
    """A 429 storm: the first `rejects` attempts of every request are refused."""

    day: int
    hour: int
    hours: int = 3
    rejects: int = 2
    retry_after: int = 1


@dataclass(frozen=True)
class DirtyHour:
    """Malformed, duplicated and over-wide records in one hour of orders and traffic."""

    day: int
    hour: int
    rate: float = 0.04


@dataclass(frozen=True)
class LateBatch:
    """Risk control cancels or refunds a share of the orders paid a day earlier, at once."""

    day: int
    hour: int
    share: float = 0.3
    created_from: int = 30
    created_to: int = 22


@dataclass(frozen=True)
class AgentShortage:
    """A flash sale with too few agents on duty: chats wait minutes or go unanswered."""

    day: int
    hour: int = 10
    hours: int = 4
    agent_median_seconds: float = 240.0
    unanswered: float = 0.25


@dataclass(frozen=True)
class ReviewAttack:
    """A burst of one-star reviews on a best seller from a few shared IPs, by non-buyers."""

    day: int
    hour: int = 21
    hours: int = 2
    reviews: int = 12
    ips: int = 3


@dataclass(frozen=True)
class WarehouseDelay:
    """The warehouse stalls: orders paid in these hours ship well after their promise."""

    day: int
    hour: int = 9
    hours: int = 6


@dataclass(frozen=True)
class WrongAddress:
    """A batch of orders shipped to a wrong address (a bad import) comes back two days later."""

    day: int
    hour: int = 14
    hours: int = 2
    share: float = 0.6


Effect = (
    ConversionDrop
    | PromoDrop
    | Stockout
    | BadThreshold
    | BadPromo
    | Outage
    | RateLimit
    | DirtyHour
    | LateBatch
    | AgentShortage
    | ReviewAttack
    | WarehouseDelay
    | WrongAddress
)


@dataclass(frozen=True)
class Scenario:
    """A named shop timeline with its injected incidents."""

    name: str
    description: str
    effects: tuple[Effect, ...] = ()


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("normal", "a healthy shop: no incidents"),
        Scenario(
            "conversion_drop",
            "conversion drops shop-wide and in single sources, several sizes and lengths",
            (
                ConversionDrop(0, 10, 3, 0.5),
                ConversionDrop(1, 20, 2, 0.6, "search"),
                ConversionDrop(2, 14, 6, 0.3),
                ConversionDrop(3, 9, 4, 0.8, "ads"),
                ConversionDrop(4, 19, 3, 0.7, "recommend"),
            ),
        ),
        Scenario(
            "source_slump",
            "conversion in the recommend source falls by half for a whole week (weekly reviews)",
            (ConversionDrop(0, 0, 24 * 7, 0.5, "recommend"),),
        ),
        Scenario(
            "promo_drops",
            "conversion drops inside promotions the history does not contain: a first flash"
            " sale, a first presale, and a 双11 store-wide full reduction from midnight with"
            " 3x traffic",
            (
                PromoDrop(
                    0,
                    10,
                    12,
                    "flash_sale",
                    "限时秒杀 flash sale",
                    ((3, 1, 0.5, None), (8, 3, 0.3, None)),
                ),
                PromoDrop(
                    2,
                    8,
                    16,
                    "presale",
                    "新品预售 presale",
                    ((4, 2, 0.4, None), (10, 2, 0.6, "search")),
                ),
                PromoDrop(
                    4,
                    0,
                    24,
                    "full_reduction",
                    "双11 满300减40 full reduction",
                    ((10, 3, 0.3, None), (20, 2, 0.4, None)),
                    uplift=(2.0, 1.0, 0.35),
                    skus=1.0,
                ),
            ),
        ),
        Scenario("promo_stockout", "a best seller sells out mid flash sale", (Stockout(1),)),
        Scenario(
            "cancel_spike",
            "a full reduction with a wrong threshold makes cancellations spike",
            (BadThreshold(1),),
        ),
        Scenario(
            "export_outage",
            "an hour of 5xx from the export, and an hour where it silently returns nothing",
            (Outage(0, 15, 1, "5xx"), Outage(2, 11, 1, "empty")),
        ),
        Scenario(
            "rate_limited",
            "429 storms with Retry-After; a client that retries gets everything",
            (RateLimit(0, 9, 3), RateLimit(2, 20, 1, rejects=3)),
        ),
        Scenario(
            "dirty_data",
            "malformed records, duplicates and unknown fields in a few hours",
            (DirtyHour(0, 11), DirtyHour(1, 15), DirtyHour(2, 20)),
        ),
        Scenario(
            "late_updates",
            "mass late cancellations and refunds of orders paid a day earlier",
            (LateBatch(0, 14), LateBatch(2, 3, share=0.5)),
        ),
        Scenario(
            "bad_promo",
            "a promotion priced under the 90-day low that commits more than the stock",
            (BadPromo(1),),
        ),
        Scenario(
            "seller_day",
            "the rest of the seller's day: service, reviews and shipping incidents",
            (
                AgentShortage(0),
                ReviewAttack(1),
                WarehouseDelay(2),
                WrongAddress(4),
            ),
        ),
        Scenario(
            "demo",
            "two eventful days at the end of the quiet stretch, for `shoppulse demo`",
            (
                BadPromo(5, hour=8),
                ConversionDrop(5, 10, 3, 0.5, "search"),
                Outage(5, 15, 1, "5xx"),
                DirtyHour(5, 17),
                Stockout(6, hour=9),
                ConversionDrop(6, 20, 2, 0.6),
            ),
        ),
        Scenario(
            "mixed",
            "several incidents over four weeks",
            (
                ConversionDrop(0, 10, 3, 0.5),
                Outage(1, 15, 1, "5xx"),
                RateLimit(1, 20, 2),
                BadThreshold(2),
                ConversionDrop(3, 20, 2, 0.6, "search"),
                DirtyHour(3, 15),
                Stockout(4),
                BadPromo(5),
                LateBatch(6, 14),
            ),
        ),
    )
}
