"""The simulated shop: determinism, windows, formats and the scenarios' incidents."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import orjson
import pytest

from simulator import ALERTNAMES, SCENARIOS, SOURCES, ShopSpec, Simulator, datasets
from simulator.simulation import Chunk

DATASETS = ("orders", "traffic", "inventory", "products", "promotions", "keywords")
STATUSES = {"created", "paid", "shipped", "completed", "cancelled", "refunded"}
_CACHE: dict[tuple[str, int], Simulator] = {}


def sim_for(scenario: str, seed: int = 0) -> Simulator:
    """One simulator per (scenario, seed) for the whole session: construction is the slow part."""
    if (scenario, seed) not in _CACHE:
        _CACHE[(scenario, seed)] = Simulator(scenario, seed)
    return _CACHE[(scenario, seed)]


def at(sim: Simulator, h: int) -> datetime:
    return sim.clock.instant(h)


def ts(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def paid_buyers(rows: list[dict], source: str | None = None) -> int:
    return len(
        {
            r["buyer_id"] + r["paid_at"][:13]
            for r in rows
            if r["status"] == "paid" and (source is None or r["source"] == source)
        }
    )


def visitors(rows: list[dict], source: str | None = None) -> int:
    return sum(r["visitors"] for r in rows if source is None or r["source"] == source)


def test_same_seed_same_bytes_and_other_seed_differs() -> None:
    a, b = Simulator("mixed", 7), Simulator("mixed", 7)
    c = Simulator("mixed", 8, ShopSpec(days=3))
    since, until = at(a, 30), at(a, 50)
    for dataset in DATASETS:
        first = [orjson.dumps(r) for r in a.records(dataset, since, until)]
        assert first == [orjson.dumps(r) for r in b.records(dataset, since, until)], dataset
    assert a.records("orders", since, until) != c.records("orders", since, until)
    assert [i.to_json() for i in a.truth()] == [i.to_json() for i in b.truth()]


def test_truth_without_reviews_is_the_truth_less_its_negative_reviews() -> None:
    fresh = Simulator("mixed", 0)
    quick = [i.to_json() for i in fresh.truth(reviews=False)]
    full = [i.to_json() for i in sim_for("mixed").truth()]
    assert any(i["alertname"] == "negative_review" for i in full)
    assert quick == [i for i in full if i["alertname"] != "negative_review"]
    assert {i["alertname"] for i in quick} >= {"conversion_drop", "cancel_spike", "data_gap"}
    # once the full truth is known, the one without reviews is taken from it: the same list
    assert [i.to_json() for i in sim_for("mixed").truth(reviews=False)] == quick


def test_window_does_not_depend_on_request_order() -> None:
    fresh = Simulator("normal", 0)
    late_first = fresh.records("orders", at(fresh, 130), at(fresh, 132))
    fresh.records("orders", at(fresh, 10), at(fresh, 60))
    assert fresh.records("orders", at(fresh, 130), at(fresh, 132)) == late_first
    assert sim_for("normal").records("orders", at(fresh, 130), at(fresh, 132)) == late_first


@pytest.mark.parametrize("dataset", DATASETS)
def test_adjacent_windows_partition_one_big_window(dataset: str) -> None:
    sim = sim_for("normal")
    a, c = at(sim, 200), at(sim, 260)
    for b in (at(sim, 230), at(sim, 230) + timedelta(minutes=17, seconds=31)):
        assert sim.records(dataset, a, b) + sim.records(dataset, b, c) == sim.records(dataset, a, c)
    early = at(sim, 30)
    head = sim.records(dataset, None, early)
    assert (
        sim.records(dataset, None, at(sim, 12)) + sim.records(dataset, at(sim, 12), early) == head
    )
    if dataset in ("products", "promotions"):
        assert head
    if dataset == "products":
        # Dimension versions published before the timeline starts come with a since-less pull.
        assert ts(head[0]["updated_at"]) < sim.clock.t0


@pytest.mark.parametrize("limit", [1, 7, 100, 1000, 5000])
def test_pages_return_every_record_once(limit: int) -> None:
    sim = sim_for("normal")
    since, until = at(sim, 300), at(sim, 303 if limit < 10 else 340)
    expected = [orjson.dumps(r) for r in sim.records("orders", since, until)]
    got: list[bytes] = []
    more = True
    while more:
        rows, more = sim.page("orders", since, until, len(got), limit)
        assert len(rows) <= limit
        got += rows
    assert got == expected
    assert len(set(got)) == len(got)


def test_records_follow_the_export_format() -> None:
    sim = sim_for("normal")
    since, until = at(sim, 600), at(sim, 624)
    orders = sim.records("orders", since, until)
    assert len(orders) > 1000
    promos = {p["promo_id"] for p in sim.records("promotions", None, sim.spec.end)}
    for r in orders:
        assert r["status"] in STATUSES
        assert r["unit_price"].count(".") == 1 and len(r["unit_price"].split(".")[1]) == 2
        assert isinstance(r["pay_amount"], float) and isinstance(r["quantity"], int)
        assert r["updated_at"].endswith("+08:00") and r["created_at"] <= r["updated_at"]
        assert since.timestamp() <= ts(r["updated_at"]) < until.timestamp()
        assert r["promo_id"] is None or r["promo_id"] in promos
        assert (r["paid_at"] is None) == (r["status"] == "created" or r["paid_at"] is None)
    keys = [(ts(r["updated_at"]), r["order_id"], r["sku_id"]) for r in orders]
    assert keys == sorted(keys)
    assert Counter(r["status"] for r in orders).keys() >= {"paid", "shipped", "completed"}
    assert any(r["quantity"] > 1 for r in orders)
    traffic = sim.records("traffic", since, until)
    shares = Counter()
    for r in traffic:
        shares[r["source"]] += r["visitors"]
        assert r["bounces"] <= r["visitors"] <= r["page_views"]
    assert 0.55 < shares["search"] / sum(shares.values()) < 0.65
    products = sim.records("products", None, sim.spec.end)
    assert {p["sku_id"] for p in products} == set(sim.catalog.sku_ids)
    assert all("safety_stock" in p and "lowest_price_90d" in p for p in products)
    kinds = {p["kind"] for p in sim.records("promotions", None, sim.spec.end)}
    assert kinds == {"discount", "full_reduction", "flash_sale", "presale"}


def test_keywords_split_search_traffic() -> None:
    sim = sim_for("normal")
    for h in (100, 450):
        since, until = at(sim, h), at(sim, h + 1)
        kw = sim.records("keywords", since, until)
        assert sum(r["visitors"] for r in kw) == visitors(
            sim.records("traffic", since, until), "search"
        )
        assert all(r["buyers"] <= r["visitors"] <= r["clicks"] <= r["impressions"] for r in kw)


def test_inventory_is_drawn_down_by_paid_units() -> None:
    sim = sim_for("normal")
    for h in range(500, 530):
        now = sim.records("inventory", at(sim, h), at(sim, h + 1))
        nxt = sim.records("inventory", at(sim, h + 1), at(sim, h + 2))
        sold: Counter[str] = Counter()
        for r in sim.records("orders", at(sim, h), at(sim, h + 1)):
            if r["status"] == "paid":
                sold[r["sku_id"]] += r["quantity"]
        stock_now: Counter[str] = Counter()
        stock_next: Counter[str] = Counter()
        for r in now:
            stock_now[r["sku_id"]] += r["on_hand"]
        for r in nxt:
            stock_next[r["sku_id"]] += r["on_hand"]
        for k, sku in enumerate(sim.catalog.sku_ids):
            restock = int(sim.timeline.adjust[h + 1, k])
            assert stock_next[sku] == stock_now[sku] - sold[sku] + restock, (h, sku)


def test_hourly_conversion_is_overdispersed() -> None:
    sim = sim_for("normal")
    tl = sim.timeline
    hours = [h for h in range(sim.clock.hours) if sim.clock.local_hour[h] == 21]
    ratios = [tl.buyers[h].sum() / tl.visitors[h].sum() for h in hours]
    expected = [sim.true_conversion(at(sim, h)) for h in hours]
    # Relative spread well above what binomial noise alone would give at ~3% of ~3,000.
    spread = [r / e - 1 for r, e in zip(ratios, expected, strict=True)]
    mean_visitors = sum(tl.visitors[h].sum() for h in hours) / len(hours)
    binomial = (1 / (0.03 * mean_visitors)) ** 0.5
    variance = sum(s * s for s in spread) / len(spread)
    assert variance**0.5 > 1.2 * binomial


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_normal_has_no_incidents_and_no_faults(seed: int) -> None:
    sim = sim_for("normal", seed)
    # nothing but the odd 1-2 star review a healthy shop still gets (each one a work item)
    assert sim.truth(reviews=False) == []
    assert sim.defects() == []
    for h in range(sim.clock.hours + 1):
        assert sim.fault("orders", None, sim.clock.instant(h), 0) is None


SELLER_DAY = {"slow_service", "negative_review", "review_attack", "late_shipping", "return_spike"}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_scenario_builds_and_labels_with_design_names(name: str) -> None:
    sim = sim_for(name)
    expected = {
        "normal": set(),
        "conversion_drop": {"conversion_drop"},
        "source_slump": {"conversion_drop"},
        "promo_stockout": {"low_stock_promo"},
        "cancel_spike": {"cancel_spike", "promo_audit"},
        "export_outage": {"data_gap"},
        "demo": {"conversion_drop", "low_stock_promo", "data_gap", "promo_audit"},
        "rate_limited": set(),
        "dirty_data": set(),
        "late_updates": set(),
        "bad_promo": {"promo_audit"},
        "mixed": set(ALERTNAMES) - SELLER_DAY,
        "promo_drops": {"conversion_drop"},
        "seller_day": SELLER_DAY,
    }[name]
    # finding the negative reviews generates every order: only where they are expected
    truth = sim.truth(reviews="negative_review" in expected)
    for incident in truth:
        assert incident.alertname in ALERTNAMES
        assert incident.start < incident.end
        assert all(isinstance(v, str) for v in incident.labels.values())
        orjson.dumps(incident.to_json())
    assert {i.alertname for i in truth} >= expected
    if not expected:
        assert {i.alertname for i in truth} <= {"low_stock_promo"}


def test_promo_drops_fall_inside_promotions_the_baseline_days_never_ran() -> None:
    sim = sim_for("promo_drops")
    tl, clock = sim.timeline, sim.clock
    new = [p for p in sim.promotions if "promo_drop" in p.tags]
    assert [p.kind for p in new] == ["flash_sale", "presale", "full_reduction"]
    for drop, a, b in sim.plan.drops:
        running = [p for p in new if p.start_h <= a and b <= p.end_h]
        assert len(running) == 1
        p = running[0]
        # no promotion of this kind in the 14 days before, except (双11) with a far smaller uplift
        before = {
            v.kind for h in range(max(p.start_h - 14 * 24, 0), p.start_h) for v in tl.active[h]
        }
        assert p.kind not in before or p.uplift is not None
        cols = [SOURCES.index(drop.source)] if drop.source else list(range(len(SOURCES)))
        factor = tl.true_conversion[a:b, cols] / tl.base_conversion[a:b, cols]
        assert factor == pytest.approx(1 - drop.drop)
    eleven = new[2]
    day_before = range(eleven.start_h - 24, eleven.start_h)
    ratio = (
        tl.expected_visitors[eleven.start_h : eleven.end_h].sum()
        / tl.expected_visitors[day_before].sum()
    )
    assert 2.5 < ratio < 3.5  # 3x traffic, from midnight
    assert clock.local_hour[eleven.start_h] == 0


def test_conversion_drop_really_lowers_conversion() -> None:
    drop, normal = sim_for("conversion_drop"), sim_for("normal")
    drops = [i for i in drop.truth(reviews=False) if i.alertname == "conversion_drop"]
    primary = [i for i in drops if not i.details["derived"]]
    assert {i.labels.get("source") for i in primary} >= {None, "search", "ads"}
    assert len({i.end - i.start for i in primary}) >= 3
    assert len({i.details["drop"] for i in primary}) >= 3
    for incident in primary:
        source = incident.labels.get("source")
        got = []
        for sim in (drop, normal):
            rows = sim.records("orders", incident.start, incident.end)
            traffic = sim.records("traffic", incident.start, incident.end)
            got.append(paid_buyers(rows, source) / visitors(traffic, source))
        assert got[0] < got[1] * (1 - incident.details["drop"] / 2), (incident, got)
        h = drop.clock.hour_of(incident.start.timestamp())
        assert drop.true_conversion(at(drop, h), source) == pytest.approx(
            drop.true_conversion(at(drop, h), source, with_incidents=False)
            * (1 - incident.details["drop"])
        )
    outside = at(drop, 100)
    assert drop.true_conversion(outside) == normal.true_conversion(outside)


def test_promo_stockout_sells_out_during_the_promotion() -> None:
    sim = sim_for("promo_stockout")
    [incident] = [i for i in sim.truth(reviews=False) if i.alertname == "low_stock_promo"]
    sku, pid = incident.labels["sku_id"], incident.labels["promo_id"]
    promo = [p for p in sim.records("promotions", None, sim.spec.end) if p["promo_id"] == pid][-1]
    starts, ends = ts(promo["starts_at"]), ts(promo["ends_at"])
    sold_out = ts(incident.details["sold_out_at"])
    assert starts < sold_out < ends
    stock = [
        r["on_hand"]
        for r in sim.records(
            "inventory", datetime.fromtimestamp(sold_out, ZoneInfo("UTC")), incident.end
        )
        if r["sku_id"] == sku
    ]
    assert stock and set(stock) == {0}
    assert incident.start.timestamp() <= starts and incident.end.timestamp() == ends


def _cancel_rate(sim: Simulator, start: datetime, end: datetime) -> float:
    rows = sim.records("orders", start - timedelta(hours=1), end + timedelta(hours=8))
    lines = set()
    cancelled = set()
    for r in rows:
        if start.timestamp() <= ts(r["created_at"]) < end.timestamp():
            lines.add((r["order_id"], r["sku_id"]))
            if r["status"] == "cancelled":
                cancelled.add((r["order_id"], r["sku_id"]))
    return len(cancelled) / len(lines)


def test_cancel_spike_raises_the_cancel_rate_in_its_window() -> None:
    sim, normal = sim_for("cancel_spike"), sim_for("normal")
    [spike] = [i for i in sim.truth(reviews=False) if i.alertname == "cancel_spike"]
    audit = [i for i in sim.truth(reviews=False) if i.alertname == "promo_audit"]
    assert any(i.labels == {"promo_id": spike.details["promo_id"]} for i in audit)
    assert _cancel_rate(sim, spike.start, spike.end) > 2 * _cancel_rate(
        normal, spike.start, spike.end
    )
    after = spike.end + timedelta(hours=2)
    assert _cancel_rate(sim, after, after + timedelta(hours=4)) < 0.2
    versions = [
        p
        for p in sim.records("promotions", None, sim.spec.end)
        if p["promo_id"] == spike.details["promo_id"]
    ]
    assert [v["threshold_amount"] < v["discount_amount"] for v in versions] == [True, False]


def test_bad_promo_prices_under_the_90_day_low_and_overcommits() -> None:
    sim = sim_for("bad_promo")
    truth = sim.truth(reviews=False)
    reasons = {r for i in truth for r in i.details.get("reasons", [])}
    assert reasons >= {"price_90d_low", "committed_stock"}
    [cheap] = [i for i in truth if "price_90d_low" in i.details.get("reasons", [])]
    promo = next(
        p
        for p in sim.records("promotions", None, sim.spec.end)
        if p["promo_id"] == cheap.labels["promo_id"]
    )
    published = datetime.fromisoformat(promo["updated_at"]) + timedelta(seconds=1)
    products = {p["sku_id"]: p for p in sim.records("products", None, published)}
    [sku] = [f.split(":")[0] for f in cheap.details["failed"] if f.endswith(":price_90d_low")]
    item = next(i for i in promo["items"] if i["sku_id"] == sku)
    assert item["promo_price"] < products[item["sku_id"]]["lowest_price_90d"]


def test_export_outage_faults_only_in_its_hour() -> None:
    sim = sim_for("export_outage")
    gaps = {i.details["kind"]: i for i in sim.truth(reviews=False) if i.alertname == "data_gap"}
    hard, empty = gaps["5xx"], gaps["empty"]
    for attempt in range(5):
        fault = sim.fault("orders", hard.start - timedelta(hours=48), hard.end, attempt)
        assert fault is not None and fault.status >= 500
    assert sim.fault("orders", hard.start, hard.end + timedelta(hours=1), 0) is None
    assert sim.fault("orders", None, hard.start, 0) is None
    # The silent gap: asked during it, the latest hour is missing; asked later, it is there.
    assert sim.records("orders", empty.start, empty.end) == []
    assert sim.records("traffic", empty.start - timedelta(hours=3), empty.end) == sim.records(
        "traffic", empty.start - timedelta(hours=3), empty.start
    )
    assert sim.records("orders", empty.start, empty.end + timedelta(hours=1))[0]["updated_at"] < (
        empty.end.isoformat()
    )


def test_rate_limit_storms_are_finite() -> None:
    sim = sim_for("rate_limited")
    [first, *_] = sim.fault_windows()
    until = datetime.fromtimestamp(first.end_ts, ZoneInfo("UTC"))
    faults = [sim.fault("orders", None, until, n) for n in range(4)]
    assert [f.status if f else None for f in faults] == [429, 429, None, None]
    assert all(f.retry_after and f.retry_after > 0 for f in faults if f)
    assert sim.fault("orders", None, until + timedelta(hours=1), 0) is None
    assert sim.truth(reviews=False) == []  # nothing but negative reviews


def test_dirty_data_damages_only_its_hours() -> None:
    sim = sim_for("dirty_data")
    defects = sim.defects()
    kinds = {d.kind for d in defects}
    assert kinds >= {"missing_field", "bad_type", "duplicate", "unknown_field", "negative_number"}
    d = defects[0]
    h = sim.clock.hour_of(d.window_at.timestamp())
    rows = sim.records(d.dataset, at(sim, h), at(sim, h + 1))
    assert any("status" not in r for r in rows)
    assert any(r.get("quantity") == "two" for r in rows)
    keys = Counter((r["order_id"], r["sku_id"], r["updated_at"]) for r in rows)
    assert max(keys.values()) == 2
    clean = sim.records("orders", at(sim, h + 1), at(sim, h + 3))
    assert all(set(r) == set(clean[0]) and r["status"] in STATUSES for r in clean)


def test_late_updates_rewrite_orders_from_a_day_earlier() -> None:
    sim, normal = sim_for("late_updates"), sim_for("normal")
    batch = next(d for d in sim.defects() if d.kind == "late_update")
    assert int(batch.key["lines"]) > 50
    start = batch.window_at
    end = start + timedelta(hours=1)
    old = ts(batch.key["created_to"])

    def late(s: Simulator) -> int:
        return sum(
            1
            for r in s.records("orders", start, end)
            if r["status"] in ("cancelled", "refunded") and ts(r["created_at"]) < old
        )

    assert late(sim) > late(normal) + 40


def test_spec_validation_and_other_timezones() -> None:
    with pytest.raises(ValueError):
        ShopSpec(start=datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        ShopSpec(start=datetime(2026, 1, 1, 0, 30, tzinfo=ZoneInfo("Asia/Shanghai")))
    with pytest.raises(ValueError):
        Simulator("no_such_scenario")
    berlin = ShopSpec(
        skus=10,
        visitors_per_day=5_000,
        start=datetime(2026, 10, 24, tzinfo=ZoneInfo("Europe/Berlin")),
        days=2,
        timezone="Europe/Berlin",
    )
    sim = Simulator("normal", 1, berlin)
    hours = sorted({r["hour"] for r in sim.records("traffic", None, berlin.end)})
    assert len(hours) == 48  # 48 real hours; the fall-back night has 02:00 twice
    assert {"2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00"} <= set(hours)
    kolkata = ShopSpec(
        skus=5,
        visitors_per_day=2_000,
        start=datetime(2026, 3, 1, tzinfo=ZoneInfo("Asia/Kolkata")),
        days=1,
        timezone="Asia/Kolkata",
    )
    rows = Simulator("normal", 0, kolkata).records("orders", None, kolkata.end)
    assert rows and all(r["updated_at"].endswith("+05:30") for r in rows)


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Europe/Berlin", "Asia/Kolkata"])
def test_fast_order_serialization_matches_the_records(zone: str) -> None:
    if zone == "Asia/Shanghai":
        sim, hours = sim_for("mixed"), (3, 333, 500)
    else:
        start = datetime(2026, 10, 24, tzinfo=ZoneInfo(zone))
        spec = ShopSpec(skus=8, visitors_per_day=20_000, start=start, days=3, timezone=zone)
        sim, hours = Simulator("normal", 2, spec), (0, 26, 27, 50)
    for h in hours:
        stamps, rows = datasets.order_bytes(sim, h)
        dicts = datasets.order_rows(sim, h)
        assert rows == [orjson.dumps(r) for r in dicts]
        assert stamps == [int(ts(r["updated_at"])) for r in dicts]


def test_chunks_are_cached_serialized_rows() -> None:
    sim = sim_for("normal")
    [(chunk, lo, hi)] = sim.segments("traffic", at(sim, 5), at(sim, 6))
    assert isinstance(chunk, Chunk) and hi - lo == len(chunk.rows)
    assert sim.segments("traffic", at(sim, 5), at(sim, 6))[0][0] is chunk


def test_promotion_start_surges_at_midnight_and_refunds_arrive_late() -> None:
    sim = sim_for("normal")
    flash = next(
        p for p in sim.records("promotions", None, sim.spec.end) if p["kind"] == "flash_sale"
    )
    start = datetime.fromisoformat(flash["starts_at"])
    assert start.hour == 0

    def shop_visitors(when: datetime) -> int:
        return visitors(sim.records("traffic", when, when + timedelta(hours=1)))

    assert shop_visitors(start) > 3 * shop_visitors(start - timedelta(days=1))
    rows = sim.records("orders", at(sim, 300), at(sim, 348))
    refunds = [r for r in rows if r["status"] == "refunded"]
    assert refunds and all(ts(r["updated_at"]) - ts(r["paid_at"]) >= 6 * 3600 for r in refunds)
    sale = sim.records("orders", start, start + timedelta(hours=2))
    in_promo = {r["promo_id"] for r in sale if r["status"] == "paid" and r["promo_id"]}
    assert flash["promo_id"] in in_promo
    prices = {i["sku_id"]: f"{i['promo_price']:.2f}" for i in flash["items"]}
    assert all(
        r["unit_price"] == prices[r["sku_id"]] for r in sale if r["promo_id"] == flash["promo_id"]
    )
