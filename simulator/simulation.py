"""The simulated shop backend: a seeded timeline with a scenario's incidents, served by window."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import numpy as np
import orjson

from simulator import datasets, service
from simulator.cache import LRU
from simulator.catalog import Catalog, ProductVersion
from simulator.clock import Clock
from simulator.dirt import soil
from simulator.faults import Fault, FaultWindow
from simulator.incidents import Defect, Incident
from simulator.orders import LateRule, OrderBatch, PriceBook, make_batch
from simulator.plan import resolve
from simulator.promotions import Promotion, regular_promotions
from simulator.scenarios import SCENARIOS, Scenario
from simulator.spec import ShopSpec
from simulator.timeline import SOURCES, Timeline

__all__ = ["Chunk", "Simulator"]

# Hours kept serialized per dataset: a 48 h lookback plus room; order hours are the big ones
# (about 4 MB each for a mid-size shop). Batches must cover MAX_LAG_HOURS + 1 to walk hours.
HOURLY_CACHE = {
    "orders": 72,
    "traffic": 192,
    "inventory": 192,
    "keywords": 192,
    "service_chats": 72,
    "reviews": 72,
    "shipments": 72,
}
BATCH_CACHE = 160


@dataclass(frozen=True)
class Chunk:
    """Serialized records sorted by their window field, with that field as epoch seconds."""

    ts: list[int]
    rows: list[bytes]


class Simulator:
    """A deterministic shop for one scenario and seed; windows are generated on demand."""

    def __init__(
        self,
        scenario: str | Scenario = "normal",
        seed: int | None = None,
        spec: ShopSpec | None = None,
    ) -> None:
        """`scenario` names one of SCENARIOS, or is a Scenario of the caller's own."""
        if isinstance(scenario, str) and scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
        spec = spec or ShopSpec()
        if seed is not None:
            spec = replace(spec, seed=seed)
        self.spec = spec
        self.seed = spec.seed
        self.scenario = SCENARIOS[scenario] if isinstance(scenario, str) else scenario
        self.clock = Clock(spec)
        self.catalog = Catalog(spec, self.clock)
        regular = regular_promotions(spec, self.clock, self.catalog)
        self.plan = resolve(self.scenario, self.clock, self.catalog, regular)
        self.promotions: list[Promotion] = regular + self.plan.promos
        self.product_versions, list_cents = _price_history(
            self.catalog, self.clock, self.promotions
        )
        self.timeline = Timeline(
            spec,
            self.clock,
            self.catalog,
            self.promotions,
            self.plan.conversion_factor,
            self.plan.stock_plans,
        )
        promo_ids = sorted({p.promo_id for p in self.promotions})
        self.prices = PriceBook(list_cents, self.timeline.active, promo_ids)
        self.sku_order = sorted(range(spec.skus), key=lambda k: self.catalog.sku_ids[k])
        self.late: list[LateRule] = self.plan.late
        self._windows = [
            FaultWindow("5xx", int(self.clock.starts[a]), int(self.clock.starts[b]))
            for o, a, b in self.plan.outages
            if o.kind == "5xx"
        ] + [
            FaultWindow(
                "429",
                int(self.clock.starts[a]),
                int(self.clock.starts[b]),
                r.rejects,
                r.retry_after,
            )
            for r, a, b in self.plan.storms
        ]
        self._stale = [
            (int(self.clock.starts[a]), int(self.clock.starts[b]))
            for o, a, b in self.plan.outages
            if o.kind == "empty"
        ]
        self._batches: LRU[int, OrderBatch] = LRU(BATCH_CACHE)
        self._chunks: dict[str, LRU[int, Chunk]] = {
            name: LRU(size) for name, size in HOURLY_CACHE.items()
        }
        self._static: dict[str, Chunk] = {}
        # origin hours of the service datasets, enough to walk hours forward without rework
        self._origins: dict[str, LRU[int, service.Versions]] = {
            name: LRU(lag + 8) for name, lag in service.LAG_HOURS.items()
        }
        # rows per generated hour, kept after the chunk itself leaves the cache
        self._sizes: dict[str, dict[int, int]] = {name: {} for name in HOURLY_CACHE}
        self._truth: dict[bool, list[Incident]] = {}

    # -- generation -------------------------------------------------------------------------

    def batch(self, c: int) -> OrderBatch:
        """Order lines created or paid in hour `c`, with all their versions."""
        return self._batches.get(
            c,
            lambda: make_batch(
                self.seed,
                self.clock,
                self.timeline,
                self.prices,
                self.catalog.buyer_cdf,
                c,
                self.late,
            ),
        )

    def rows(self, dataset: str, h: int) -> tuple[list[dict[str, Any]], list[Defect]]:
        """Records of an hourly dataset for hour `h` as served, with any injected defects."""
        build = {
            "orders": datasets.order_rows,
            "traffic": datasets.traffic_rows,
            "inventory": datasets.inventory_rows,
            "keywords": datasets.keyword_rows,
        }[dataset]
        rows = build(self, h)
        dirty = self.plan.dirty.get(h)
        if dirty is None:
            return rows, []
        return soil(dataset, rows, self.seed, h, dirty.rate, self.clock.instant(h))

    def service_rows(self, dataset: str, h: int) -> list[tuple[int, dict[str, Any]]]:
        """(updated epoch second, record) of a service dataset updated in hour `h`, in order."""
        make = service.ORIGINS[dataset]
        cache = self._origins[dataset]
        lo, hi = int(self.clock.starts[h]), int(self.clock.starts[h + 1])
        pairs: list[tuple[int, dict[str, Any]]] = []
        for c in range(max(0, h - service.LAG_HOURS[dataset]), h + 1):
            pairs += cache.get(c, lambda c=c: make(self, c)).rows(lo, hi)  # type: ignore[misc]
        return sorted(pairs, key=lambda p: p[0])

    def _chunk(self, dataset: str, h: int) -> Chunk:
        def make() -> Chunk:
            if dataset in service.ORIGINS:
                pairs = self.service_rows(dataset, h)
                return Chunk([t for t, _ in pairs], [orjson.dumps(r) for _, r in pairs])
            if dataset == "orders" and h not in self.plan.dirty:
                return Chunk(*datasets.order_bytes(self, h))
            rows, _ = self.rows(dataset, h)
            if dataset == "orders":
                # Damaged rows keep their updated_at, so the window order still holds.
                stamps = [int(datetime.fromisoformat(r["updated_at"]).timestamp()) for r in rows]
            else:
                stamps = [int(self.clock.starts[h])] * len(rows)
            return Chunk(stamps, [orjson.dumps(r) for r in rows])

        return self._chunks[dataset].get(h, make)

    def _static_chunk(self, dataset: str) -> Chunk:
        if dataset not in self._static:
            pairs = (
                datasets.product_rows(self)
                if dataset == "products"
                else datasets.promotion_rows(self)
            )
            self._static[dataset] = Chunk(
                [t for t, _ in pairs], [orjson.dumps(r) for _, r in pairs]
            )
        return self._static[dataset]

    # -- windows ----------------------------------------------------------------------------

    def segments(
        self, dataset: str, since: datetime | None, until: datetime
    ) -> list[tuple[Chunk, int, int]]:
        """The window as slices of cached chunks, in order: (chunk, lo, hi)."""
        return [(chunk, lo, hi) for chunk, lo, hi in self._spans(dataset, since, until, 0) if chunk]

    def _spans(
        self, dataset: str, since: datetime | None, until: datetime, skip: int
    ) -> Iterator[tuple[Chunk | None, int, int]]:
        """Slices of the window; inner hours wholly inside `skip` come as (None, 0, size).

        A page deep into a long window then costs no regeneration of the hours before it,
        however small the chunk cache is.
        """
        if dataset not in datasets.DATASETS:
            raise KeyError(dataset)
        for when in (since, until):
            if when is not None and when.utcoffset() is None:
                raise ValueError(f"window bounds must be timezone-aware, got {when.isoformat()}")
        lo_ts = float("-inf") if since is None else since.timestamp()
        hi_ts = until.timestamp()
        if dataset in ("products", "promotions"):
            chunk = self._static_chunk(dataset)
            yield chunk, bisect_left(chunk.ts, lo_ts), bisect_left(chunk.ts, hi_ts)
            return
        for start, end in self._stale:
            # The export job lags: asked during the stale hour, its data is not there yet.
            if start < hi_ts <= end:
                hi_ts = min(hi_ts, start)
        t0 = self.clock.t0
        first = 0 if since is None else max(0, int((lo_ts - t0) // 3600))
        last = min(self.clock.hours, int(-((t0 - hi_ts) // 3600)))
        sizes = self._sizes[dataset]
        for h in range(first, last):
            inner = first < h < last - 1
            if inner and h in sizes and sizes[h] <= skip:
                skip -= sizes[h]
                yield None, 0, sizes[h]
                continue
            chunk = self._chunk(dataset, h)
            sizes[h] = len(chunk.ts)
            lo, hi = bisect_left(chunk.ts, lo_ts), bisect_left(chunk.ts, hi_ts)
            skip = max(0, skip - (hi - lo))
            if hi > lo:
                yield chunk, lo, hi

    def page(
        self, dataset: str, since: datetime | None, until: datetime, offset: int, limit: int
    ) -> tuple[list[bytes], bool]:
        """Serialized records [offset, offset+limit) of a window, and whether more follow."""
        out: list[bytes] = []
        skip = offset
        for chunk, lo, hi in self._spans(dataset, since, until, offset):
            n = hi - lo
            if skip >= n:
                skip -= n
                continue
            assert chunk is not None
            if len(out) == limit:
                return out, True
            take = min(hi, lo + skip + limit - len(out))
            out += chunk.rows[lo + skip : take]
            skip = 0
            if take < hi:
                return out, True
        return out, False

    def records(
        self, dataset: str, since: datetime | None, until: datetime
    ) -> list[dict[str, Any]]:
        """All records of a window exactly as the export API serves them, in order."""
        return [
            orjson.loads(row)
            for chunk, lo, hi in self.segments(dataset, since, until)
            for row in chunk.rows[lo:hi]
        ]

    # -- ground truth and oracles -----------------------------------------------------------

    def truth(self, *, reviews: bool = True) -> list[Incident]:
        """The incidents a correct pipeline alerts on, ordered by start; `reviews=False` leaves
        out the negative reviews, which every scenario has every day and cost most to find."""
        if not reviews and False not in self._truth and True in self._truth:
            # the full truth is known: the one without reviews is that less its reviews
            self._truth[False] = [i for i in self._truth[True] if i.alertname != "negative_review"]
        if reviews not in self._truth:
            from simulator.truth import ground_truth

            self._truth[reviews] = ground_truth(self, reviews=reviews)
        return list(self._truth[reviews])

    def defects(self) -> list[Defect]:
        """Records damaged on purpose (dirty_data) and mass late updates (late_updates)."""
        found: list[Defect] = []
        for h in sorted(self.plan.dirty):
            for dataset in ("orders", "traffic"):
                found += self.rows(dataset, h)[1]
        for rule in self.late:
            lines = sum(self.batch(c).late_lines for c in range(rule.lo, rule.hi))
            found.append(
                Defect(
                    "orders",
                    "late_update",
                    self.clock.instant(rule.at),
                    {
                        "created_from": self.clock.instant(rule.lo).isoformat(),
                        "created_to": self.clock.instant(rule.hi).isoformat(),
                        "lines": str(lines),
                    },
                    False,
                )
            )
        return found

    def true_conversion(
        self, hour: datetime, source: str | None = None, *, with_incidents: bool = True
    ) -> float:
        """Expected conversion (buyers / visitors) of the hour containing `hour`."""
        h = self.clock.hour_of(hour.timestamp())
        if not 0 <= h < self.clock.hours:
            raise ValueError(f"{hour.isoformat()} is outside the simulated timeline")
        tl = self.timeline
        rates = tl.true_conversion[h] if with_incidents else tl.base_conversion[h]
        if source is not None:
            if source not in SOURCES:
                raise ValueError(f"unknown source {source!r}; known: {', '.join(SOURCES)}")
            return float(rates[SOURCES.index(source)])
        weights = tl.expected_visitors[h]
        return float((weights * rates).sum() / weights.sum())

    def true_sku_buyers(self, hour: datetime, sku_ids: list[str]) -> tuple[float, float]:
        """Expected buyers of at least one of `sku_ids` in the hour containing `hour`, given
        its visitors and without incidents, and their variance at that rate."""
        h = self.clock.hour_of(hour.timestamp())
        if not 0 <= h < self.clock.hours:
            raise ValueError(f"{hour.isoformat()} is outside the simulated timeline")
        mask = np.zeros(len(self.catalog.sku_ids), dtype=bool)
        mask[[self.catalog.sku_index(s) for s in sku_ids]] = True
        return self.timeline.sku_buyers(h, mask)

    def fault(
        self, dataset: str, since: datetime | None, until: datetime, attempt: int
    ) -> Fault | None:
        """The error to answer the `attempt`-th identical request with, or None to serve it."""
        until_ts = until.timestamp()
        for window in self._windows:
            if window.covers(until_ts):
                return window.fault(attempt)
        return None

    def fault_windows(self) -> list[FaultWindow]:
        """Where the export fails, for the ground truth."""
        return list(self._windows)

    def stale_windows(self) -> list[tuple[int, int]]:
        """Epoch ranges where the export silently lags by its latest hour."""
        return list(self._stale)


def _price_history(
    catalog: Catalog, clock: Clock, promos: list[Promotion]
) -> tuple[list[ProductVersion], np.ndarray]:
    """Product versions (list-price changes, new 90-day lows) and list price per hour."""
    hours = clock.hours
    list_cents = np.tile(catalog.base_list_cents, (hours, 1))
    events: list[tuple[int, int, str, int]] = []
    for h, sku, cents in catalog.changes:
        events.append((int(clock.starts[h]), sku, "list", cents))
        list_cents[h:, sku] = cents
    latest: dict[str, Promotion] = {}
    for p in sorted(promos, key=lambda p: p.updated_ts):
        latest[p.promo_id] = p
    for p in latest.values():
        if p.kind == "full_reduction" or p.end_h >= hours:
            continue
        # Sales at the promotion price set a new 90-day low, published an hour after it ends.
        for item in p.items:
            events.append((int(clock.starts[p.end_h]) + 3600, item.sku, "low", item.price_cents))
    versions = list(catalog.versions)
    current = {v.sku: v for v in versions}
    for ts, sku, what, cents in sorted(events):
        if ts >= int(clock.starts[-1]):
            continue
        cur = current[sku]
        if what == "list":
            low = None if cur.lowest_cents is None else min(cur.lowest_cents, cents)
            new = ProductVersion(sku, ts, cents, low)
        elif cur.lowest_cents is not None and cents < cur.lowest_cents:
            new = ProductVersion(sku, ts, cur.list_cents, cents)
        else:
            continue
        versions.append(new)
        current[sku] = new
    return versions, list_cents
